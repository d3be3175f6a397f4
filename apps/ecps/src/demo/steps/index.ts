// SPDX-License-Identifier: Apache-2.0
// The demo's steps, in order. Each layer of the stack adds its step here.
import type { DemoStep } from '../step';
import promptAndAction from './01-prompt-and-action';
import cameraTensors from './02-camera-tensors';
import sw4rmAgents from './03-sw4rm-agents';

export const demoSteps: DemoStep[] = [promptAndAction, cameraTensors, sw4rmAgents];
