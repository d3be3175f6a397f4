// SPDX-License-Identifier: Apache-2.0
// Fuzz targets: a SW4RM Envelope as it arrives in protobuf (gRPC) and in the proto-loader JSON shape (spec §6.1),
// then everything a receiver does with it: the JSON form, the ACK payload, re-encoding.
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzReport, type FuzzTarget } from '@ecps/testkit/fuzz';
import { ManualClock, seededRandom } from '@ecps/core';
import { AckStage, Envelope, EnvelopeFactory, MessageType, ackOf, buildAckEnvelope, envelopeFromJson, envelopeToJson } from '../src/index';

/** A refusal at the parse step itself (protobuf wire error, JSON syntax): the transport's decoder refuses it. */
class ParseRefusal extends Error {}

const corpusDir = (target: string) => fileURLToPath(new URL(`../fuzz-corpus/${target}/`, import.meta.url));
const timeout = () => Number(process.env['ECPS_FUZZ_MS'] ?? 2000) * 2 + 30_000;
const invariant = (condition: boolean, what: string) => {
  if (!condition) throw new FuzzInvariantError(what);
};
// documented refusals: the parse step, and RangeError for a 64-bit value that is not a safe integer (README, Errors)
const isExpected = (error: unknown) => error instanceof ParseRefusal || error instanceof RangeError;

function expectClean(report: FuzzReport): void {
  expect(report.failure).toBeUndefined();
  expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
  expect(report.iterations).toBeGreaterThan(0);
}

function sampleEnvelopes(): Envelope[] {
  const factory = new EnvelopeFactory('planner', { clock: new ManualClock(1_750_000_000_000), random: seededRandom(4) });
  const task = factory.build({ messageType: MessageType.DATA, payload: '{"task":"build"}', contentType: 'application/json', correlationId: 'c-1' });
  return [task, buildAckEnvelope(task, { producerId: 'worker', stage: AckStage.FULFILLED, note: 'done' }, { clock: new ManualClock(1_750_000_000_500), random: seededRandom(5) })];
}

const same = (a: Envelope, b: Envelope) => Buffer.from(Envelope.encode(a).finish()).equals(Buffer.from(Envelope.encode(b).finish()));

/** What every receiver does with an envelope it accepted; each step must hold or refuse with a typed error. */
function receive(envelope: Envelope): void {
  ackOf(envelope); // undefined or the parsed ACK, never a throw
  const reparsed = Envelope.decode(Envelope.encode(envelope).finish());
  invariant(same(reparsed, envelope), 'protobuf re-encoding changed the envelope');
  const viaJson = envelopeFromJson(JSON.parse(JSON.stringify(envelopeToJson(envelope))) as Record<string, unknown>);
  invariant(same(viaJson, envelope), 'the proto-loader JSON form changed the envelope');
}

function protobufTarget(): FuzzTarget {
  const name = 'sw4rm-envelope-protobuf';
  return {
    name,
    seeds: [...sampleEnvelopes().map((e) => Envelope.encode(e).finish()), ...loadCorpus(corpusDir(name))],
    isExpected,
    run(input) {
      let envelope: Envelope;
      try {
        envelope = Envelope.decode(input);
      } catch (cause) {
        throw new ParseRefusal(String(cause));
      }
      receive(envelope);
    },
  };
}

function jsonTarget(): FuzzTarget {
  const name = 'sw4rm-envelope-json';
  return {
    name,
    seeds: [...sampleEnvelopes().map((e) => new TextEncoder().encode(JSON.stringify(envelopeToJson(e)))), ...loadCorpus(corpusDir(name))],
    isExpected,
    run(input) {
      let object: unknown;
      try {
        object = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(input));
      } catch (cause) {
        throw new ParseRefusal(String(cause));
      }
      if (typeof object !== 'object' || object === null || Array.isArray(object)) throw new ParseRefusal('not a JSON object');
      receive(envelopeFromJson(object as Record<string, unknown>));
    },
  };
}

describe('fuzz: SW4RM envelopes', () => {
  it('protobuf: typed refusals only, and an accepted envelope survives every form unchanged', async () => {
    expectClean(await runFuzzTarget(protobufTarget()));
  }, timeout());

  it('JSON: typed refusals only, and an accepted envelope survives every form unchanged', async () => {
    expectClean(await runFuzzTarget(jsonTarget()));
  }, timeout());
});
