// SPDX-License-Identifier: Apache-2.0
// A power cut cannot be simulated here, so the durable write is checked by the order of its file-system calls.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isEcpsError } from './errors';
import { writeFileDurable, type DurableFs } from './internal';

/** node:fs/promises, recording each call as `op name` (names relative to the test directory). */
function recordingFs(dir: string, calls: string[], failRename = false): DurableFs {
  const name = (p: string) => (p === dir ? '<dir>' : basename(p).replace(/\.\d+\.\d+\.tmp$/, '.<tmp>'));
  return {
    async open(path, flags, mode) {
      calls.push(`open ${name(path)} ${flags}`);
      const handle = await fs.open(path, flags, mode);
      return {
        writeFile: async (data) => (calls.push(`write ${name(path)}`), handle.writeFile(data)),
        sync: async () => (calls.push(`sync ${name(path)}`), handle.sync()),
        close: async () => (calls.push(`close ${name(path)}`), handle.close()),
      };
    },
    async rename(from, to) {
      calls.push(`rename ${name(from)} ${name(to)}`);
      if (failRename) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
      await fs.rename(from, to);
    },
    async rm(path, options) {
      calls.push(`rm ${name(path)}`);
      await fs.rm(path, options);
    },
  };
}

describe('writeFileDurable', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ecps-durable-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fsyncs the file before the rename and the directory after it', async () => {
    const calls: string[] = [];
    await writeFileDurable(join(dir, 'state.json'), '{"a":1}', { fs: recordingFs(dir, calls) });
    expect(calls).toEqual([
      'open state.json.<tmp> w',
      'write state.json.<tmp>',
      'sync state.json.<tmp>',
      'close state.json.<tmp>',
      'rename state.json.<tmp> state.json',
      'open <dir> r',
      'sync <dir>',
      'close <dir>',
    ]);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('{"a":1}');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('leaves the old file and no temporary file behind when the rename fails, and says IO_ERROR', async () => {
    writeFileSync(join(dir, 'state.json'), 'old');
    const calls: string[] = [];
    let error: unknown;
    await writeFileDurable(join(dir, 'state.json'), 'new', { fs: recordingFs(dir, calls, true) }).catch((e: unknown) => (error = e));
    expect(isEcpsError(error, 'IO_ERROR')).toBe(true);
    expect(calls.at(-1)).toBe('rm state.json.<tmp>');
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });
});
