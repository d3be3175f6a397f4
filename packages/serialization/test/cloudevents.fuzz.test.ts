// SPDX-License-Identifier: Apache-2.0
// Fuzz targets for the CloudEvents wire modes (shared harness; ECPS_FUZZ_MS / ECPS_FUZZ_SEED):
//   cloudevents-structured  bytes as a structured-mode JSON event (MQTT 3.1.1 payloads)
//   cloudevents-binary      bytes as a binary-mode message (MQTT 5 Content Type, User Properties and payload)
// Refusals must be typed; what decodes must survive re-encoding in both modes unchanged.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { fromBinaryMode, fromStructured, toBinaryMode, toStructured, type BinaryModeMessage } from '../src/index';

const corpusDir = (target: string) => join(import.meta.dirname, 'fuzz-corpus', target);
const utf8 = new TextEncoder();
const lossy = new TextDecoder();

const samples: EcpsEvent[] = [
  { id: 'a1', source: 'urn:ecps:arm-1', type: 'ecps.eap.action', data: Uint8Array.of(8, 1, 0x12, 0) },
  {
    id: '0af76519-16cd-43dd-8448-eb211c80319c',
    source: 'urn:ecps:cam',
    type: 'ecps.ltp.chunk',
    time: '2026-01-01T00:00:00.000Z',
    datacontenttype: 'application/protobuf',
    extensions: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', correlationid: 'c-1' },
    data: new Uint8Array(64).map((_, i) => i * 7),
  },
];

/** Normal form for comparisons: structured mode always states a content type. */
const normal = (e: EcpsEvent) => ({ ...e, datacontenttype: e.datacontenttype ?? 'application/protobuf', data: Buffer.from(e.data).toString('hex') });

function sameEvent(a: EcpsEvent, b: EcpsEvent, how: string): void {
  try {
    expect(normal(b)).toEqual(normal(a));
  } catch (error) {
    throw new FuzzInvariantError(`${how} changed the event: ${(error as Error).message}`);
  }
}

/** Decoded events must keep their meaning through both wire modes. */
function checkRoundTrips(event: EcpsEvent): void {
  sameEvent(event, fromStructured(toStructured(event)), 'structured mode');
  sameEvent(event, fromBinaryMode(toBinaryMode(event)), 'binary mode');
}

const structured: FuzzTarget = {
  name: 'cloudevents-structured',
  seeds: [
    ...samples.map(toStructured),
    utf8.encode('{"specversion":"1.0","id":"x","source":"s","type":"t","data":{"a":[1,2]},"n":3,"ok":true}'),
    utf8.encode('{"__type__":"EAP","data":"AA=="}'),
    ...loadCorpus(corpusDir('cloudevents-structured')),
  ],
  isExpected: (e) => isEcpsError(e),
  run(input) {
    checkRoundTrips(fromStructured(input));
  },
};

// Binary-mode messages as bytes: [flags: bit 0 = has content type][count] then length-prefixed (u8) strings,
// the content type first if flagged, then `count` name/value pairs; the rest is the payload.
function encodeBinary(message: BinaryModeMessage): Uint8Array {
  const parts: number[] = [message.contentType === undefined ? 0 : 1, Object.keys(message.properties).length];
  const str = (s: string) => {
    const bytes = utf8.encode(s).subarray(0, 255);
    parts.push(bytes.length, ...bytes);
  };
  if (message.contentType !== undefined) str(message.contentType);
  for (const [name, value] of Object.entries(message.properties)) (str(name), str(value));
  return Uint8Array.from([...parts, ...message.data]);
}
function decodeBinary(input: Uint8Array): BinaryModeMessage {
  let at = 2;
  const str = () => {
    const length = input[at] ?? 0;
    const text = lossy.decode(input.subarray(at + 1, at + 1 + length));
    at += 1 + length;
    return text;
  };
  const contentType = (input[0] ?? 0) & 1 ? str() : undefined;
  const properties: Record<string, string> = {};
  for (let n = input[1] ?? 0; n > 0; n--) properties[str()] = str();
  return { ...(contentType === undefined ? {} : { contentType }), properties, data: input.subarray(Math.min(at, input.length)) };
}

const binary: FuzzTarget = {
  name: 'cloudevents-binary',
  seeds: [...samples.map((e) => encodeBinary(toBinaryMode(e))), ...loadCorpus(corpusDir('cloudevents-binary'))],
  isExpected: (e) => isEcpsError(e),
  run(input) {
    checkRoundTrips(fromBinaryMode(decodeBinary(input)));
  },
};

describe('CloudEvents fuzz targets', () => {
  for (const target of [structured, binary]) {
    it(`${target.name}: 0 crashes, 0 untyped exceptions`, async () => {
      const report = await runFuzzTarget(target);
      expect(report.failure).toBeUndefined();
      expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
      expect(report.iterations).toBeGreaterThan(50);
    }, 120_000);
  }
});
