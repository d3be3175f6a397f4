// SPDX-License-Identifier: Apache-2.0
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleForTest } from '../test/bundle';
import { isEcpsError } from '@ecps/core';
import { seededRandom } from '@ecps/core';
import { EaplogWriter, LocalKeyFileProvider, parseEaplog, readEaplog, validateEaplog } from './index';
import { crashMessage } from '../test/crash-message';

const dir = mkdtempSync(join(tmpdir(), 'eaplog-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `log-${n++}.eaplog`);
const msg = (i: number): Uint8Array => new TextEncoder().encode(`message-${i}`);

describe('EaplogWriter', () => {
  it.each(['always', 'never', { intervalMs: 5 }] as const)('appends in order under fsync %p', async (fsync) => {
    const path = file();
    const w = await EaplogWriter.create(path, { fsync, robotId: 'arm-1', sessionId: 's' });
    await Promise.all(Array.from({ length: 50 }, (_, i) => w.append(msg(i))));
    await w.close();
    const log = await readEaplog(path);
    expect(log.layout).toBe('ecps-v2');
    expect(log.messages.map((m) => new TextDecoder().decode(m.data))).toEqual(Array.from({ length: 50 }, (_, i) => `message-${i}`));
    expect((await validateEaplog(path, { strict: true })).valid).toBe(true);
  });

  it('refuses to create over an existing file and rejects appends after close', async () => {
    const path = file();
    const w = await EaplogWriter.create(path);
    await expect(EaplogWriter.create(path)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await w.close();
    await expect(w.append(msg(1))).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('a too-large record rejects alone; the others are kept', async () => {
    const path = file();
    const w = await EaplogWriter.create(path, { maxRecordBytes: 100 });
    const results = await Promise.allSettled([w.append(msg(0)), w.append(new Uint8Array(200)), w.append(msg(2))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(isEcpsError((results[1] as PromiseRejectedResult).reason, 'MESSAGE_TOO_LARGE')).toBe(true);
    await w.close();
    expect((await readEaplog(path)).messages).toHaveLength(2);
  });

  it('reopening truncates a torn tail, reports it and keeps appending', async () => {
    const path = file();
    const w = await EaplogWriter.create(path);
    for (let i = 0; i < 3; i++) await w.append(msg(i));
    await w.close();
    const full = statSync(path).size;
    truncateSync(path, full - 5);
    const again = await EaplogWriter.open(path);
    expect(again.recovered).toMatchObject({ reason: expect.stringContaining('runs past') });
    expect(again.messageCount).toBe(2);
    await again.append(msg(9));
    await again.close();
    const log = await readEaplog(path);
    expect(log.tornTail).toBeUndefined();
    expect(log.messages.map((m) => new TextDecoder().decode(m.data))).toEqual(['message-0', 'message-1', 'message-9']);
  });

  it('appends to reference-layout files in their own framing', async () => {
    const path = file();
    const w = await EaplogWriter.create(path, { mode: 'compat', version: '1.1', createdAt: 1 });
    await w.append(msg(0));
    await w.close();
    appendFileSync(path, new Uint8Array([0, 0]));
    const again = await EaplogWriter.open(path, { mode: 'native' });
    expect(again.recovered?.bytes).toBe(2);
    await again.append(msg(1));
    await again.close();
    const log = await readEaplog(path);
    expect([log.layout, log.version, log.messages.length]).toEqual(['reference', '1.1', 2]);
  });

  it('signed logs: rebuilds the chain when appending, refuses to append after the final checkpoint', async () => {
    const keys = new LocalKeyFileProvider({ s: { algorithm: 'ed25519', key: new Uint8Array(32).fill(1) } });
    const path = file();
    const signing = { provider: keys, keyId: 's', checkpointInterval: 3 };
    const w = await EaplogWriter.create(path, { signing });
    for (let i = 0; i < 4; i++) await w.append(msg(i));
    await w.flush();
    // simulate a crash: reopen without closing (no final checkpoint), append, then close
    const copy = `${path}.copy`;
    writeFileSync(copy, readFileSync(path));
    const again = await EaplogWriter.open(copy, { signing });
    for (let i = 4; i < 7; i++) await again.append(msg(i));
    await again.close();
    const report = await validateEaplog(copy, { strict: true });
    expect(report).toMatchObject({ valid: true, sealed: true, checkpoints: 3 });
    await expect(EaplogWriter.open(copy, { signing })).rejects.toMatchObject({ code: 'LOG_SEALED' });
    await w.close();
  });

  it('the append queue is bounded: appends past maxQueuedBytes wait their turn, in order, and none is lost', async () => {
    const path = file();
    const w = await EaplogWriter.create(path, { fsync: 'always', maxQueuedBytes: 2000 });
    let peak = 0;
    const appends = Array.from({ length: 200 }, (_, i) => {
      const done = w.append(new Uint8Array(100).fill(i));
      peak = Math.max(peak, w.queuedBytes);
      return done;
    });
    const sampler = setInterval(() => (peak = Math.max(peak, w.queuedBytes)), 0);
    await Promise.all(appends);
    clearInterval(sampler);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2000);
    expect(w.queuedBytes).toBe(0);
    // one message larger than the whole queue still goes through (alone)
    await w.append(new Uint8Array(5000));
    await w.close();
    const log = await readEaplog(path);
    expect(log.messages.map((m) => m.data[0])).toEqual([...Array.from({ length: 200 }, (_, i) => i & 0xff), 0]);
  });

  it('a file with only a torn header is started afresh', async () => {
    const path = file();
    writeFileSync(path, Buffer.concat([Buffer.from([0xe7, 0, 0, 0]), Buffer.from('{"magic":"EAPLOG","ver')]));
    const w = await EaplogWriter.open(path);
    expect(w.recovered).toBeDefined();
    await w.append(msg(0));
    await w.close();
    expect((await readEaplog(path)).messages).toHaveLength(1);
  });
});

describe('SIGKILL mid-write', () => {
  // The writer child is bundled once from source, so each round starts in milliseconds.
  const childScript = join(dir, 'crash-writer.mjs');
  beforeAll(async () => {
    await bundleForTest('test/crash-writer.ts', childScript);
  });

  it('never corrupts: every complete record before the cut is intact, a torn tail is reported and recovered', async () => {
    const rng = seededRandom(0x5eed);
    const rounds = 30;
    let torn = 0;
    let intact = 0;
    for (let round = 0; round < rounds; round++) {
      const path = file();
      const policy = ['never', 'always', 'interval'][round % 3] as string;
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [childScript, path, policy], { stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 1 + rng.int(300)));
        child.on('error', reject);
        child.on('close', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited without SIGKILL (${signal})`))));
      });
      const parsed = parseEaplog(new Uint8Array(readFileSync(path)));
      expect(parsed.corruptions).toEqual([]);
      const data = parsed.records.filter((r) => r.kind === 'data');
      data.forEach((r, k) => {
        if (Buffer.compare(Buffer.from(r.body.subarray(1)), Buffer.from(crashMessage(k))) !== 0) throw new Error(`round ${round}: message ${k} differs`);
      });
      intact += data.length;
      if (parsed.tornTail) torn++;
      // the next writer recovers the tail the kill left and goes on
      const w = await EaplogWriter.open(path, { fsync: 'never' });
      expect(w.recovered?.offset).toBe(parsed.tornTail?.offset);
      expect(w.messageCount).toBe(data.length);
      await w.append(crashMessage(data.length));
      await w.close();
      const report = await validateEaplog(path, { strict: true });
      expect(report).toMatchObject({ valid: true, messages: data.length + 1 });
      rmSync(path);
    }
    process.stderr.write(`SIGKILL test: ${rounds} rounds, ${intact} records intact, ${torn} torn tails reported and recovered\n`);
  }, 150_000);
});
