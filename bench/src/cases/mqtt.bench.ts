// SPDX-License-Identifier: Apache-2.0
// MQTT through a real Mosquitto (MQTT 5): the ECPS transport against raw mqtt.js on the same broker, same run.
// Both sides put the same CloudEvent on the wire (100 B payload + binary-mode user properties), so the ratio is the
// cost of the transport itself. Throughput: N messages, 1000 in flight; latency: one at a time, one process.
import { connectAsync, type MqttClient } from 'mqtt';
import type { EcpsEvent, QosLevel, Transport } from '@ecps/core';
import { startMosquitto, type MosquittoHandle } from '@ecps/testkit/launchers';
import { mqttTransport } from '@ecps/transport-mqtt';
import { quantile, type BenchCase } from '../harness';

const PAYLOAD = 100;

interface Rig {
  broker: MosquittoHandle;
  ecpsPub: Transport;
  ecpsSub: Transport;
  rawPub: MqttClient;
  rawSub: MqttClient;
}

let rig: Rig | undefined;
let users = 0;
let run = 0;

async function acquire(): Promise<Rig> {
  users++;
  if (rig) return rig;
  const broker = await startMosquitto();
  const ecps = (nodeId: string) => mqttTransport({ url: broker.url, nodeId, whenQueueFull: 'wait', maxPendingPublishes: 65_535 });
  const raw = () => connectAsync(broker.url, { protocolVersion: 5 });
  rig = { broker, ecpsPub: ecps('bench-pub'), ecpsSub: ecps('bench-sub'), rawPub: await raw(), rawSub: await raw() };
  await rig.ecpsPub.connect();
  await rig.ecpsSub.connect();
  return rig;
}

async function release(): Promise<void> {
  if (--users > 0 || !rig) return;
  const r = rig;
  rig = undefined;
  await r.ecpsPub.close();
  await r.ecpsSub.close();
  await r.rawPub.endAsync(true);
  await r.rawSub.endAsync(true);
  await r.broker.stop();
}

/** One payload for every message of both sides: the raw side reuses its buffer, so ours does too. */
const DATA = Buffer.alloc(PAYLOAD);

function ecpsEvent(i: number): EcpsEvent {
  return { id: `bench-${i}`, source: 'urn:ecps:bench-pub', type: 'ecps.ext.bench', time: new Date().toISOString(), data: DATA };
}

/**
 * Publishes `n` messages with at most `window` unacknowledged (the same pipelining on both sides), then waits until
 * the subscriber has them all or nothing arrived for 1 s. Returns delivered messages per second up to the last one.
 */
async function pipelined(n: number, send: (i: number) => Promise<unknown>, received: () => number, window = 1000): Promise<number> {
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < n) await send(next++);
  };
  await Promise.all(Array.from({ length: window }, lane));
  let last = received();
  let lastAt = performance.now();
  while (received() < n && performance.now() - lastAt < 1000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (received() !== last) [last, lastAt] = [received(), performance.now()];
  }
  return received() / ((lastAt - start) / 1000);
}

async function ecpsThroughput(qos: QosLevel, n: number): Promise<number> {
  const { ecpsPub, ecpsSub } = rig!;
  const topic = `bench/ecps/${run++}`;
  let received = 0;
  const sub = await ecpsSub.subscribe(topic, () => void received++, { qos });
  const rate = await pipelined(n, (i) => ecpsPub.publish(topic, ecpsEvent(i), { qos }), () => received);
  await sub.unsubscribe();
  return rate;
}

/** What a hand-written mqtt.js client sends for the same CloudEvent (binary mode): same payload, same properties. */
function rawProperties(i: number) {
  return {
    contentType: 'application/protobuf',
    userProperties: { specversion: '1.0', id: `bench-${i}`, source: 'urn:ecps:bench-pub', type: 'ecps.ext.bench', time: new Date().toISOString() },
  };
}

async function rawThroughput(qos: QosLevel, n: number): Promise<number> {
  const { rawPub, rawSub } = rig!;
  const topic = `bench/raw/${run++}`;
  let received = 0;
  const onMessage = (t: string) => void (t === topic && received++);
  rawSub.on('message', onMessage);
  await rawSub.subscribeAsync(topic, { qos });
  const rate = await pipelined(n, (i) => rawPub.publishAsync(topic, DATA, { qos, properties: rawProperties(i) }), () => received);
  rawSub.off('message', onMessage);
  await rawSub.unsubscribeAsync(topic);
  return rate;
}

// a p99 of 2,000 samples is the 20th-slowest one, and flipped between about 0.2 and 0.4 ms from run to run on both
// sides (a few broker or scheduler stalls more or less); 10,000 samples and 7 runs give it a steadier median
const LATENCY_SAMPLES = 10_000;

async function ecpsLatencies(): Promise<number[]> {
  const { ecpsPub, ecpsSub } = rig!;
  const topic = `bench/ecps-lat/${run++}`;
  let arrived: (() => void) | undefined;
  const sub = await ecpsSub.subscribe(topic, () => arrived?.(), { qos: 1 });
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const got = new Promise<void>((resolve) => (arrived = resolve));
    const t0 = performance.now();
    void ecpsPub.publish(topic, ecpsEvent(i), { qos: 1 });
    await got;
    samples.push(performance.now() - t0);
  }
  await sub.unsubscribe();
  return samples;
}

async function rawLatencies(): Promise<number[]> {
  const { rawPub, rawSub } = rig!;
  const topic = `bench/raw-lat/${run++}`;
  let arrived: (() => void) | undefined;
  const onMessage = (t: string) => void (t === topic && arrived?.());
  rawSub.on('message', onMessage);
  await rawSub.subscribeAsync(topic, { qos: 1 });
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const got = new Promise<void>((resolve) => (arrived = resolve));
    const t0 = performance.now();
    void rawPub.publishAsync(topic, DATA, { qos: 1, properties: rawProperties(i) });
    await got;
    samples.push(performance.now() - t0);
  }
  rawSub.off('message', onMessage);
  await rawSub.unsubscribeAsync(topic);
  return samples;
}

const shared = { setup: async () => void (await acquire()), teardown: release };

const throughput = (qos: QosLevel, n: number): BenchCase => ({
  name: `mqtt QoS ${qos} throughput, 100 B, Mosquitto (ECPS transport vs raw mqtt.js, same CloudEvent)`,
  unit: 'msg/s',
  higherIsBetter: true,
  ...shared,
  // issue 21: QoS 1 within 0.95 of raw mqtt.js (below it, the report gets a profile of ours)
  // 7 runs of about 3 s at QoS 1: with 5 runs of 1 s, the broker's drift moved both sides' samples by ±25 %
  ...(qos === 1 ? { target: 0.95, repetitions: 7 } : {}),
  ours: () => ecpsThroughput(qos, n),
  baseline: () => rawThroughput(qos, n),
});

const latency = (q: number): BenchCase => ({
  name: `mqtt QoS 1 one-way latency p${Math.round(q * 100)}, 100 B, Mosquitto (ECPS transport vs raw mqtt.js, same CloudEvent)`,
  unit: 'ms',
  higherIsBetter: false,
  ...shared,
  target: 0.95,
  repetitions: 7,
  ours: async () => quantile(await ecpsLatencies(), q),
  baseline: async () => quantile(await rawLatencies(), q),
});

export default [throughput(0, 20_000), throughput(1, 30_000), latency(0.5), latency(0.99)];
