// SPDX-License-Identifier: Apache-2.0
// A fleet of 1,000 robots in this process on one Mosquitto: ECPS nodes (@ecps/runtime over @ecps/transport-mqtt)
// against the same fleet of raw mqtt.js clients sending the same bytes on the same topics (src/fleet/). Each robot
// publishes 5 QoS 1 telemetry samples and acts on one EAP action. A run that loses a sample or gets no result for an
// action fails the case (an action refused as stale, later than the profile's 0.8 s EAP timeout, got its result). One fleet run yields every figure, so the cases share runs: the first case makes them, the others read them.
import { startMosquitto, type MosquittoHandle } from '@ecps/testkit/launchers';
import type { BenchCase } from '../harness';
import { ecpsFleet } from '../fleet/ecps-fleet';
import { runFleet, type FleetFigures, type FleetSide } from '../fleet/fleet';
import { captureWire, rawFleet } from '../fleet/raw-fleet';

const SIZE = 1000;
const ROUNDS = 5;
const REPETITIONS = 3;

let broker: MosquittoHandle | undefined;
let raw: FleetSide | undefined;
const runs: Record<'ours' | 'baseline', FleetFigures[]> = { ours: [], baseline: [] };

async function fleetRun(side: 'ours' | 'baseline', index: number): Promise<FleetFigures> {
  const done = runs[side];
  while (done.length <= index) {
    broker ??= await startMosquitto({ maxConnections: SIZE + 16 });
    raw ??= rawFleet(await captureWire(broker.url));
    const figures = await runFleet(side === 'ours' ? ecpsFleet : raw, { size: SIZE, rounds: ROUNDS, robotUrls: [broker.url], managerUrl: broker.url });
    const failures = JSON.stringify(figures.actionFailures);
    if (figures.telemetryLost > 0 || figures.actionsAnswered < SIZE) {
      throw new Error(`${side}: ${figures.telemetryLost} of ${figures.telemetrySent} QoS 1 samples lost, ${figures.actionsAnswered} of ${SIZE} actions answered ${failures}`);
    }
    if (figures.actionsSucceeded < SIZE) console.log(`  (${side}: ${SIZE - figures.actionsSucceeded} actions refused: ${failures})`);
    done.push(figures);
  }
  return done[index]!;
}

function fleetCase(name: string, unit: string, higherIsBetter: boolean, figure: (f: FleetFigures) => number): BenchCase {
  const calls = { ours: 0, baseline: 0 };
  return {
    name: `mqtt fleet, ${SIZE.toLocaleString('en')} nodes on one Mosquitto: ${name} (ECPS nodes vs raw mqtt.js clients)`,
    unit,
    higherIsBetter,
    repetitions: REPETITIONS,
    setup: async () => {
      calls.ours = 0;
      calls.baseline = 0;
    },
    teardown: async () => {
      await broker?.stop();
      broker = undefined;
    },
    ours: async () => figure(await fleetRun('ours', calls.ours++)),
    baseline: async () => figure(await fleetRun('baseline', calls.baseline++)),
  };
}

export default [
  fleetCase('connect every node', 'ms', false, (f) => f.connectMs),
  fleetCase('QoS 1 telemetry throughput', 'msg/s', true, (f) => f.messagesPerSecond),
  fleetCase('telemetry latency p50', 'ms', false, (f) => f.latencyP50Ms),
  fleetCase('telemetry latency p99', 'ms', false, (f) => f.latencyP99Ms),
  fleetCase('EAP action round trip p99', 'ms', false, (f) => f.actionP99Ms),
  fleetCase('memory per node (heap + external)', 'KiB', false, (f) => f.bytesPerNode / 1024),
];
