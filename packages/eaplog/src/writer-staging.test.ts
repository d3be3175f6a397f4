// SPDX-License-Identifier: Apache-2.0
// Plain logs (no encryption, signing or zstd) are framed synchronously into reused staging buffers: the bytes on disk
// must be exactly those of the async encoder (encodeEaplog), whatever the batching, and a failed write must leave
// the file as it was before the batch.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleForTest } from '../test/bundle';
import { EaplogWriter, encodeEaplog, readEaplog, validateEaplog } from './index';
import type { LogFormatOptions } from './index';

const dir = mkdtempSync(join(tmpdir(), 'eaplog-staging-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `log-${n++}.eaplog`);

/** Messages of varied sizes: tiny, around the 64 KiB staging chunk, and one several chunks long. */
const messages = [1, 100, 4096, 65_000, 65_536, 70_000, 300_000, 7, 0, 20_000, 50_000, 3].map((size, i) =>
  Uint8Array.from({ length: size }, (_, j) => (i * 31 + j * 7) & 0xff),
);

const formats: [string, LogFormatOptions][] = [
  ['native', {}],
  ['native, deflate', { compression: 'deflate' }],
  ['compat 1.1', { mode: 'compat', version: '1.1' }],
  ['compat 1.0 (no header)', { mode: 'compat', version: '1.0' }],
];

describe('EaplogWriter staging path (plain logs)', () => {
  it.each(formats)('%s: the same bytes as encodeEaplog, appended one by one, all in one turn, or while earlier ones are written', async (_name, format) => {
    const options = { ...format, createdAt: 1_700_000_000.5, robotId: 'arm-1', fsync: 'never' as const };
    const expected = await encodeEaplog(messages, options);
    // one at a time: each record reuses the buffer the previous one was written from
    const oneByOne = file();
    const w1 = await EaplogWriter.create(oneByOne, options);
    for (const m of messages) await w1.append(m);
    await w1.close();
    // all in one turn: records fill several staging chunks and go out in one gathered write
    const together = file();
    const w2 = await EaplogWriter.create(together, options);
    await Promise.all(messages.map((m) => w2.append(m)));
    await w2.close();
    // interleaved: new records are staged while earlier ones are being written
    const interleaved = file();
    const w3 = await EaplogWriter.create(interleaved, options);
    const pending: Promise<void>[] = [];
    for (const m of messages) {
      pending.push(w3.append(m));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(pending);
    await w3.close();
    for (const path of [oneByOne, together, interleaved]) expect(Buffer.compare(readFileSync(path), Buffer.from(expected))).toBe(0);
  });

  it('appending to an existing log frames like the async encoder, and a message the caller reuses is not affected', async () => {
    const path = file();
    const w = await EaplogWriter.create(path, { createdAt: 1, compression: 'deflate' });
    await w.append(messages[2]!);
    await w.close();
    const again = await EaplogWriter.open(path, { fsync: 'never' });
    const scratch = new Uint8Array(1000);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      scratch.fill(i);
      pending.push(again.append(scratch)); // framed at the call: refilling the caller's buffer afterwards is safe
    }
    await Promise.all(pending);
    await again.close();
    const expected = await encodeEaplog([messages[2]!, ...Array.from({ length: 5 }, (_, i) => new Uint8Array(1000).fill(i))], { createdAt: 1, compression: 'deflate' });
    expect(Buffer.compare(readFileSync(path), Buffer.from(expected))).toBe(0);
  });

  it('a message over the record limit rejects alone, in the middle of a staged batch', async () => {
    const path = file();
    const w = await EaplogWriter.create(path, { maxRecordBytes: 2000, createdAt: 1 });
    const results = await Promise.allSettled([w.append(messages[1]!), w.append(new Uint8Array(2000)), w.append(messages[7]!)]);
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'))).toEqual(['ok', 'MESSAGE_TOO_LARGE', 'ok']);
    await w.close();
    expect(Buffer.compare(readFileSync(path), Buffer.from(await encodeEaplog([messages[1]!, messages[7]!], { createdAt: 1 })))).toBe(0);
  });
});

describe('a write that fails part-way (file size limit)', () => {
  const child = join(dir, 'limited-writer.mjs');
  beforeAll(async () => {
    await bundleForTest('test/limited-writer.ts', child);
  });

  // prlimit (util-linux) sets RLIMIT_FSIZE: the write that crosses it is cut short, the next one fails with EFBIG
  const prlimit = spawnSync('prlimit', ['--version']).status === 0;
  (prlimit ? it : it.skip)('rejects the whole batch with IO_ERROR, cuts the partial bytes off and refuses later appends', async () => {
    const limit = 200_000;
    const path = file();
    const run = spawnSync('prlimit', [`--fsize=${limit}`, process.execPath, child, path, '3000'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as { outcomes: string[]; after: string; messageCount: number; byteSize: number };
    const written = report.outcomes.filter((o) => o === 'ok').length;
    expect(written).toBeGreaterThan(0);
    // everything after the first failure failed too: nothing accepted was lost, nothing was written out of order
    expect(report.outcomes.slice(written).every((o) => o === 'IO_ERROR')).toBe(true);
    expect(report.outcomes.length).toBeGreaterThan(written);
    expect(report.after).toBe('IO_ERROR');
    expect(report.messageCount).toBe(written);
    // the file ends exactly after the last record that was acknowledged: the cut-short write left nothing behind
    expect(statSync(path).size).toBe(report.byteSize);
    expect(report.byteSize).toBeLessThanOrEqual(limit);
    const log = await readEaplog(path);
    expect(log.tornTail).toBeUndefined();
    expect(log.messages.map((m) => m.data[0])).toEqual(Array.from({ length: written }, (_, k) => k & 0xff));
    expect((await validateEaplog(path, { strict: true })).valid).toBe(true);
  }, 60_000);
});
