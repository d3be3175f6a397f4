// SPDX-License-Identifier: Apache-2.0
// Fuzz target for the MQTT receive path (shared harness; ECPS_FUZZ_MS / ECPS_FUZZ_SEED): bytes off the socket go
// through mqtt-packet's parser (the one mqtt.js uses) and every PUBLISH through the transport's own reading of it
// (size limits, CloudEvents binary or structured mode, Correlation Data, the Response Topic rule). The parser's
// refusals are its 'error' events (mqtt.js then drops the connection); ours must be typed.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { correlationOf, isEcpsError, type EcpsEvent } from '@ecps/core';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { encodeWire } from '../src/index';
import { isAllowedResponseTopic, readPublish } from '../src/wire';

const PREFIX = 'ecps/';
const LIMITS = { maxPayloadSize: 4096, maxWireBytes: Math.ceil(4096 / 3) * 4 + 1024 };
const event: EcpsEvent = {
  id: 'e-1',
  source: 'urn:ecps:arm',
  type: 'ecps.eap.action',
  time: '2026-01-01T00:00:00.000Z',
  extensions: { correlationid: 'c-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  data: Uint8Array.of(8, 1, 18, 0),
};

// input: one byte (bit 0: MQTT 5, else 3.1.1), then the bytes as they came off the socket
function seed(protocolVersion: 4 | 5, properties?: IPublishPacket['properties']): Uint8Array {
  const wire = encodeWire(event, protocolVersion);
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: `${PREFIX}Arm.Home/request`,
    payload: wire.payload,
    qos: 1,
    messageId: 7,
    dup: false,
    retain: false,
    ...(protocolVersion === 5 ? { properties: { ...wire.properties, ...properties } } : {}),
  };
  return Uint8Array.of(protocolVersion === 5 ? 1 : 0, ...mqttPacket.generate(packet, { protocolVersion }));
}

function readAll(input: Uint8Array): void {
  const protocolVersion = (input[0] ?? 0) & 1 ? 5 : 4;
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', () => undefined); // the connection would be dropped: nothing reaches us
  parser.parse(Buffer.from(input.subarray(1)));
  for (const packet of packets) {
    if (packet.cmd !== 'publish') continue;
    let received: EcpsEvent;
    try {
      received = readPublish(Buffer.from(packet.payload), packet.properties, LIMITS);
    } catch (error) {
      if (isEcpsError(error)) continue;
      throw error;
    }
    if (received.data.length > LIMITS.maxPayloadSize) throw new FuzzInvariantError(`${received.data.length} data bytes passed the limit`);
    const correlationData = packet.properties?.correlationData;
    if (Buffer.isBuffer(correlationData) && correlationOf(received) === undefined) throw new FuzzInvariantError('Correlation Data was lost');
    const responseTopic: unknown = packet.properties?.responseTopic;
    if (isAllowedResponseTopic(responseTopic, PREFIX) && (!responseTopic.startsWith(PREFIX) || /[+#]/.test(responseTopic))) {
      throw new FuzzInvariantError(`reply allowed on ${JSON.stringify(responseTopic)}`);
    }
  }
}

const target: FuzzTarget = {
  name: 'mqtt-publish',
  seeds: [
    seed(5),
    seed(4),
    seed(5, { responseTopic: 'elsewhere/steal', correlationData: Buffer.from('c-9') }),
    seed(5, { responseTopic: `${PREFIX}replies/1`, correlationData: Buffer.from('c-10') }),
    ...loadCorpus(join(import.meta.dirname, 'fuzz-corpus', 'mqtt-publish')),
  ],
  isExpected: () => false,
  run: readAll,
};

describe('MQTT receive fuzz target', () => {
  it('mqtt-publish: 0 crashes, 0 untyped exceptions', async () => {
    const report = await runFuzzTarget(target);
    expect(report.failure).toBeUndefined();
    expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
    expect(report.iterations).toBeGreaterThan(50);
  }, 120_000);
});
