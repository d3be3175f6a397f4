// SPDX-License-Identifier: Apache-2.0
// The JSON-file store: the store contract, the durable write order, crashes between its steps, corrupt files, the lock.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { bundleScript, waitFor } from '@ecps/testkit';
import { isCodexError, JsonFileStore, JsonlIncidentLog, nodeDurableFs, openRegistry, type DurableFs } from '../src/index';
import { bot, describeBotStoreContract } from './store-contract';

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'codex-json-'));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describeBotStoreContract('JSON file', async () => {
  const dir = tempDir();
  return { open: () => JsonFileStore.open({ file: join(dir, 'registry.json') }), cleanup: async () => {} };
});

/** A file system that records each call and fails the one named by `failAt()` (before doing it). */
function recordingFs(failAt: () => string | undefined = () => undefined): { fs: DurableFs; steps: string[] } {
  const steps: string[] = [];
  let dirFd = -1;
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    steps.push(name);
    if (name === failAt()) throw Object.assign(new Error(`injected failure at ${name}`), { code: 'EIO' });
    return run();
  };
  const fs: DurableFs = {
    open: (path, flags, mode) =>
      step(flags === 'r' ? 'open-dir' : 'open-temp', async () => {
        const fd = await nodeDurableFs.open(path, flags, mode);
        if (flags === 'r') dirFd = fd;
        return fd;
      }),
    write: (fd, data) => step('write', () => nodeDurableFs.write(fd, data)),
    fsync: (fd) => step(fd === dirFd ? 'fsync-dir' : 'fsync-temp', () => nodeDurableFs.fsync(fd)),
    // a failed close still releases the descriptor, as close(2) does
    close: (fd) => {
      const name = fd === dirFd ? 'close-dir' : 'close-temp';
      if (fd === dirFd) dirFd = -1; // descriptor numbers are reused
      return step(name, () => nodeDurableFs.close(fd)).catch(async (e: unknown) => {
        await nodeDurableFs.close(fd).catch(() => {});
        throw e;
      });
    },
    rename: (a, b) => step('rename', () => nodeDurableFs.rename(a, b)),
    unlink: (p) => nodeDurableFs.unlink(p),
  };
  return { fs, steps };
}

const WRITE_STEPS = ['open-temp', 'write', 'fsync-temp', 'close-temp', 'rename', 'open-dir', 'fsync-dir', 'close-dir'];

describe('JsonFileStore durability (checklist 7)', () => {
  it('writes temp file → fsync → close → rename → directory fsync, in that order, with 4-space JSON', async () => {
    const dir = tempDir();
    const recorder = recordingFs();
    const store = await JsonFileStore.open({ file: join(dir, 'r.json'), fs: recorder.fs });
    recorder.steps.length = 0;
    await store.create(bot('one'));
    await store.close();
    expect(recorder.steps).toEqual(WRITE_STEPS);
    const text = readFileSync(join(dir, 'r.json'), 'utf8');
    expect(text).toContain('\n    "schema_version": 1');
    expect(JSON.parse(text)).toMatchObject({ schema_version: 1, bots: [{ id: 'one' }], metadata: { total_bots: 1 } });
  });

  it.each(WRITE_STEPS)('a failure at %s leaves the old or the new file intact, memory unchanged and no temp file', async (failAt) => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    let failing: string | undefined;
    const { fs } = recordingFs(() => failing);
    const store = await JsonFileStore.open({ file, fs });
    await store.create(bot('old'));
    const oldText = readFileSync(file, 'utf8');
    failing = failAt;
    const error = await store.create(bot('new')).catch((e: unknown) => e);
    failing = undefined;
    expect(isCodexError(error, 'storage_unavailable') && error.status).toBe(503);
    expect((await store.list()).bots.map((b) => b.id)).toEqual(['old']); // memory unchanged
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { bots: { id: string }[] };
    const renamed = WRITE_STEPS.indexOf(failAt) > WRITE_STEPS.indexOf('rename');
    expect(onDisk.bots.map((b) => b.id)).toEqual(renamed ? ['old', 'new'] : ['old']);
    if (!renamed) expect(readFileSync(file, 'utf8')).toBe(oldText);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // the store still works afterwards
    await store.create(bot('later'));
    await store.close();
    const reopened = await JsonFileStore.open({ file });
    expect((await reopened.list()).bots.map((b) => b.id)).toEqual(['old', 'later']);
    await reopened.close();
  });

  it('a process killed between any two steps leaves the old or the new file, and the next open cleans up', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    const seed = await JsonFileStore.open({ file });
    await seed.create(bot('old'));
    await seed.close();
    const script = await bundleScript(join(import.meta.dirname, 'fixtures', 'crash-writer.ts'));
    for (const step of WRITE_STEPS) {
        const result = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
          const child = execFile(process.execPath, [script, file, step]);
          child.on('exit', (code, signal) => resolve({ code, signal }));
        });
        expect(result.signal).toBe('SIGKILL');
        const store = await JsonFileStore.open({ file });
        const renamed = WRITE_STEPS.indexOf(step) > WRITE_STEPS.indexOf('rename');
        expect((await store.list()).bots.map((b) => b.id)).toEqual(renamed ? ['old', 'crash'] : ['old']);
        if (renamed) await store.delete('crash');
        await store.close();
        expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
  });
});

describe('JsonFileStore corrupt files (checklist 8)', () => {
  const corruptions: [string, string][] = [
    ['zero bytes', ''],
    ['bad JSON', '{"schema_version": 1, "bots": ['],
    ['bad schema', JSON.stringify({ schema_version: 1, bots: [{ id: 'x' }], metadata: { total_bots: 1, last_updated: '2025-01-01T00:00:00Z' } })],
    ['a bot without a valid id', JSON.stringify({ bots: [{ id: 'Not Valid!', name: 'n', blueprint: 'a.py' }] })],
  ];

  it.each(corruptions)('%s: policy fail copies it to .corrupt-<ts>, records an incident, keeps the original and refuses to start (exit 78)', async (_what, content) => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    writeFileSync(file, content);
    const clock = new ManualClock(Date.parse('2025-03-04T05:06:07.890Z'));
    const incidents = new JsonlIncidentLog({ file: join(dir, 'incidents.jsonl'), clock });
    const error = await JsonFileStore.open({ file, incidents, clock }).catch((e: unknown) => e);
    expect(isCodexError(error, 'registry_corrupt')).toBe(true);
    expect((error as { details: { exitCode: number } }).details.exitCode).toBe(78);
    expect((error as Error).message).toContain(`${file}.corrupt-20250304T050607Z`);
    expect(readFileSync(`${file}.corrupt-20250304T050607Z`, 'utf8')).toBe(content);
    expect(readFileSync(file, 'utf8')).toBe(content); // left in place, never emptied
    expect((await incidents.tail()).map((i) => i.kind)).toEqual(['registry_corrupt']);
    expect(existsSync(`${file}.lock`)).toBe(false); // the lock is released on the way out
  });

  it('policy restore-backup loads the last known-good copy written at the previous successful start', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    const first = await JsonFileStore.open({ file });
    await first.create(bot('precious'));
    await first.close();
    const second = await JsonFileStore.open({ file }); // a successful load rewrites r.json.bak
    await second.close();
    writeFileSync(file, '');
    const restored = await JsonFileStore.open({ file, corruptPolicy: 'restore-backup' });
    expect((await restored.list()).bots.map((b) => b.id)).toEqual(['precious']);
    await restored.close();
    expect(readdirSync(dir).filter((n) => n.includes('.corrupt-'))).toHaveLength(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).bots).toHaveLength(1);
  });

  it('policy restore-backup without a backup fails rather than starting empty', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.json'), 'not json');
    const error = await JsonFileStore.open({ file: join(dir, 'r.json'), corruptPolicy: 'restore-backup' }).catch((e: unknown) => e);
    expect(isCodexError(error, 'registry_corrupt')).toBe(true);
    expect((error as Error).message).toContain('backup');
  });

  it('policy start-empty is an explicit opt-in: the copy is kept and the registry starts empty', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    writeFileSync(file, '{');
    const store = await JsonFileStore.open({ file, corruptPolicy: 'start-empty' });
    expect((await store.list()).total).toBe(0);
    await store.close();
    expect(readFileSync(readdirSync(dir).map((n) => join(dir, n)).find((p) => p.includes('.corrupt-'))!, 'utf8')).toBe('{');
  });

  it('migrates a reference file (no schema_version): retired statuses become stopped', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    writeFileSync(file, JSON.stringify({ bots: [{ id: 'Ref-1', name: 'Ref', blueprint: 'ref/bot.py', status: 'paused', error_count: 2 }], metadata: {} }));
    const store = await JsonFileStore.open({ file });
    expect(await store.get('ref-1')).toMatchObject({ status: 'stopped', error_count: 2, revision: 1 });
    await store.close();
  });
});

describe('JsonFileStore lock (checklist 9)', () => {
  it('a second instance on the same file gets registry_locked naming the holder, in this process and in another', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    const registry = await openRegistry({ backend: 'json', file });
    const error = await JsonFileStore.open({ file }).catch((e: unknown) => e);
    expect(isCodexError(error, 'registry_locked')).toBe(true);
    expect((error as Error).message).toBe(`registry locked by pid ${process.pid}`);
    const script = await bundleScript(join(import.meta.dirname, 'fixtures', 'open-registry.ts'));
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [script, file], (_e, _out, stderr) => resolve({ code: child.exitCode, stderr }));
    });
    expect(out).toEqual({ code: 75, stderr: `registry locked by pid ${process.pid}\n` });
    await registry.close();
    const after = await JsonFileStore.open({ file }); // released on close
    await after.close();
  });

  it('takes over a lock that has not been refreshed for 10 s, and the old holder learns it lost the lock', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.json');
    const clock = new ManualClock(Date.now());
    let lost = false;
    const holder = await JsonFileStore.open({ file, clock, lock: { onCompromised: () => (lost = true) } });
    await holder.create(bot('a'));
    // The holder stalls (its refresh timer never fires on the manual clock); 11 s later another process comes.
    const later = new ManualClock(Date.now() + 11_000);
    const taker = await JsonFileStore.open({ file, clock: later });
    clock.advance(5_000); // the holder's refresh notices
    await waitFor(() => lost, 'the holder to notice', 10_000);
    const error = await holder.create(bot('b')).catch((e: unknown) => e);
    expect(isCodexError(error, 'registry_locked')).toBe(true);
    expect((await taker.list()).bots.map((b) => b.id)).toEqual(['a']);
    await taker.close();
    await holder.close();
  });
});
