// SPDX-License-Identifier: Apache-2.0
// Fuzz target: .eaplog files (the reader, the streamed reader, validation). Any input either reads or fails with a
// typed EcpsError, and no record is silently lost: every byte of the file is a header, a stacked header, a record,
// or lies in a reported torn tail or corruption. The streamed reader (with a tiny read buffer, so records straddle
// chunks) finds exactly what the in-memory parser finds. Regression inputs: fuzz/eaplog-file/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { vectorsDir } from '@ecps/testkit';
import { FuzzInvariantError, loadCorpus, runFuzzTarget } from '@ecps/testkit/fuzz';
import { EaplogReader, LocalKeyFileProvider, decodeMessages, encodeEaplog, parseEaplog, pyObject, validateBytes } from './index';
import type { LogRecord, ParsedEaplog } from './index';

const MAX_RECORD = 1 << 16;
const corpusDir = join(import.meta.dirname, '..', 'fuzz', 'eaplog-file');
const keys = new LocalKeyFileProvider({
  aes: { algorithm: 'aes-256-gcm', key: new Uint8Array(32).fill(7) },
  sig: { algorithm: 'ed25519', key: new Uint8Array(32).fill(9) },
});

async function seeds(): Promise<Uint8Array[]> {
  const vector = (name: string): Uint8Array => new Uint8Array(readFileSync(join(vectorsDir(), name)));
  const messages = [vector('eap_set_pose.bin'), vector('eap_gripper.bin')];
  const pinned = { createdAt: 1750000000, robotId: 'robot-1', sessionId: 'sess-1', metadata: pyObject([['k', 'v']]) };
  return [
    ...['v1.0.eaplog', 'v1.1.eaplog', 'v2.1.eaplog', 'remigrated_2.1.eaplog', 'migrated_1.0_to_2.1.eaplog'].map(vector),
    await encodeEaplog(messages, pinned),
    await encodeEaplog(messages, { ...pinned, compression: 'deflate' }),
    await encodeEaplog(messages, { ...pinned, encryption: { provider: keys, keyId: 'aes' }, signing: { provider: keys, keyId: 'sig', checkpointInterval: 1 } }),
    ...loadCorpus(corpusDir),
  ];
}

const fail = (what: string): never => {
  throw new FuzzInvariantError(what);
};

/** Every byte is accounted for: records and stacked headers tile the file from the data offset to a reported end. */
function checkAccounting(parsed: ParsedEaplog): void {
  const trailer = parsed.layout === 'ecps-v2' ? 4 : 0;
  const extents = [
    ...parsed.stackedHeaders.map((s) => ({ offset: s.offset, end: s.offset + 4 + s.size })),
    ...parsed.records.map((r) => ({ offset: r.offset, end: r.offset + 4 + r.body.length + trailer })),
    ...parsed.corruptions.filter((c) => c.skipped !== undefined).map((c) => ({ offset: c.offset, end: c.offset + (c.skipped as number) })),
  ].sort((a, b) => a.offset - b.offset);
  let at = parsed.tornTail?.header ? 0 : parsed.dataOffset;
  for (const e of extents) {
    if (e.offset !== at) fail(`bytes ${at}..${e.offset} belong to nothing`);
    at = e.end;
  }
  const reported = at === parsed.size || parsed.tornTail?.offset === at || parsed.corruptions.some((c) => c.offset === at && c.skipped === undefined);
  if (!reported) fail(`bytes ${at}..${parsed.size} were dropped without a torn tail or corruption there`);
  if (parsed.tornTail && parsed.tornTail.offset + parsed.tornTail.bytes !== parsed.size) fail('a torn tail that does not reach the end of the file');
}

const sameRecord = (a: LogRecord, b: LogRecord | undefined): boolean =>
  b !== undefined && a.offset === b.offset && a.kind === b.kind && a.crcOk === b.crcOk && Buffer.compare(a.body, b.body) === 0;

async function run(input: Uint8Array): Promise<void> {
  let parsed: ParsedEaplog | undefined;
  let thrown: unknown;
  try {
    parsed = parseEaplog(input, { maxRecordBytes: MAX_RECORD });
  } catch (error) {
    thrown = error;
  }
  // the streamed reader agrees with the in-memory parser, whatever the chunk boundaries
  let streamed: LogRecord[] = [];
  let reader: EaplogReader | undefined;
  try {
    reader = await EaplogReader.fromBytes(input, { maxRecordBytes: MAX_RECORD, readBufferBytes: 7 });
    for await (const record of reader.records()) streamed.push(record);
  } catch (error) {
    if (!parsed && (error as Error).message === (thrown as Error).message) streamed = [];
    else fail(`streamed reader threw ${String(error)}; parser ${thrown ? `threw ${String(thrown)}` : 'did not'}`);
  }
  if (!parsed) throw thrown; // typed refusal (LOG_CORRUPT, UNSUPPORTED...) or an untyped bug: the harness decides
  const findings = reader?.findings;
  if (streamed.length !== parsed.records.length || !parsed.records.every((r, i) => sameRecord(r, streamed[i]))) fail('streamed records differ');
  if (JSON.stringify(findings?.corruptions) !== JSON.stringify(parsed.corruptions) || findings?.tornTail?.offset !== parsed.tornTail?.offset) {
    fail('streamed findings differ');
  }
  checkAccounting(parsed);
  const report = await validateBytes(input, { maxRecordBytes: MAX_RECORD, verify: true, keyProvider: keys });
  if (report.valid && (parsed.corruptions.length > 0 || parsed.notAnActionLog)) fail('validate accepted a damaged log');
  await decodeMessages(parsed, { keyProvider: keys, maxRecordBytes: MAX_RECORD });
}

describe('fuzz: .eaplog files', () => {
  it('no untyped exception, no record silently lost', async () => {
    const report = await runFuzzTarget({ name: 'eaplog-file', seeds: await seeds(), run, isExpected: (e) => isEcpsError(e) });
    process.stderr.write(`fuzz eaplog-file: ${report.iterations} iterations, ${report.crashes} crashes, ${report.untypedExceptions} untyped\n`);
    expect(report.failure).toBeUndefined();
    expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
  }, 60_000);

  it('every regression input in fuzz/eaplog-file is refused: typed errors only, and validate says invalid', async () => {
    const corpus = loadCorpus(corpusDir);
    expect(corpus.length).toBeGreaterThanOrEqual(8);
    for (const input of corpus) {
      try {
        await run(input);
      } catch (error) {
        if (error instanceof FuzzInvariantError || !isEcpsError(error)) throw error;
      }
      expect((await validateBytes(input)).exitCode).toBe(1);
    }
  });
});
