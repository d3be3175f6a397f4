// SPDX-License-Identifier: Apache-2.0
// The demo's steps, in order. Each layer of the stack adds its step here.
import type { DemoStep } from '../step';
import promptAndAction from './01-prompt-and-action';
import cameraTensors from './02-camera-tensors';
import vectorMemory from './03-vector-memory';
import trust from './06-trust';
import tpmAttestation from './06-tpm-attestation';
import actionLog from './07-action-log';
import sw4rmAgents from './07-sw4rm-agents';
import sw4rmServices from './07-sw4rm-services';
import swarmCoordination from './08-swarm-coordination';
import codexFleet from './09-codex-fleet';
import grpcTraced from './30-grpc-traced';
import peatCells from './40-peat-cells';

export const demoSteps: DemoStep[] = [
  promptAndAction,
  cameraTensors,
  vectorMemory,
  trust,
  tpmAttestation,
  sw4rmAgents,
  sw4rmServices,
  swarmCoordination,
  codexFleet,
  grpcTraced,
  peatCells,
  // last: the robot's action log of the whole demo, its `eaplog info`, and a replay
  actionLog,
];
