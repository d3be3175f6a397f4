// SPDX-License-Identifier: Apache-2.0
// The fleet at test size: 200 ECPS nodes in this process, each publishing QoS 1 telemetry and acting on one EAP
// action, on one Mosquitto and split across two bridged Mosquittos. Counts only: no sample is lost and every action
// gets its result, which is a success (or, on an overloaded machine, a refusal because the action arrived later than
// the profile's EAP timeout; nothing else). Speed is measured by bench/src/cases/mqtt-fleet.bench.ts at 1,000 nodes.
import { afterAll, describe, expect, it } from '@jest/globals';
import { startMosquitto, startMosquittoBridge, type MosquittoBridgeHandle, type MosquittoHandle } from '@ecps/testkit';
import { ecpsFleet } from './ecps-fleet';
import { runFleet, type FleetFigures } from './fleet';

const SIZE = 200;
const ROUNDS = 5;

let broker: MosquittoHandle | undefined;
let bridge: MosquittoBridgeHandle | undefined;
afterAll(async () => {
  await broker?.stop();
  await bridge?.stop();
});

function counts(figures: FleetFigures) {
  return {
    telemetrySent: figures.telemetrySent,
    telemetryReceived: figures.telemetryReceived,
    telemetryLost: figures.telemetryLost,
    actionsAnswered: figures.actionsAnswered,
    failuresOtherThanStale: Object.keys(figures.actionFailures).filter((reason) => reason !== 'EAP_STATUS_REJECTED STALE_MESSAGE'),
  };
}

const expected = { telemetrySent: SIZE * ROUNDS, telemetryReceived: SIZE * ROUNDS, telemetryLost: 0, actionsAnswered: SIZE, failuresOtherThanStale: [] };

describe(`a fleet of ${SIZE} ECPS nodes over MQTT`, () => {
  it('on one Mosquitto: every QoS 1 sample arrives and every action is answered', async () => {
    broker = await startMosquitto({ maxConnections: SIZE + 16 });
    const figures = await runFleet(ecpsFleet, { size: SIZE, rounds: ROUNDS, robotUrls: [broker.url], managerUrl: broker.url });
    expect(counts(figures)).toEqual(expected);
  }, 60_000);

  it('split across two bridged Mosquittos, the manager on one of them: the same counts', async () => {
    bridge = await startMosquittoBridge({ brokers: 2, maxConnections: SIZE + 16 });
    const [leaf] = bridge.leaves;
    const figures = await runFleet(ecpsFleet, {
      size: SIZE,
      rounds: ROUNDS,
      robotUrls: [leaf!.url, bridge.hub.url],
      managerUrl: leaf!.url,
    });
    expect(counts(figures)).toEqual(expected);
  }, 60_000);
});
