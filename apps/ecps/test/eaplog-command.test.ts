// SPDX-License-Identifier: Apache-2.0
import { join } from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Command } from 'commander';
import { vectorsDir } from '@ecps/testkit';
import { registerEaplog } from '../src/commands/eaplog';

async function ecps(...args: string[]): Promise<{ out: string; code: number | undefined }> {
  const program = new Command('ecps').enablePositionalOptions().exitOverride();
  registerEaplog(program);
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  const code = process.exitCode as number | undefined;
  process.exitCode = undefined;
  return { out, code };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('ecps eaplog', () => {
  it('delegates to the eaplog CLI with its options and exit codes', async () => {
    expect(await ecps('eaplog', 'list-versions')).toEqual({ out: '1.0\n1.1\n2.0\n2.1 (latest)\n', code: 0 });
    const info = await ecps('eaplog', 'info', join(vectorsDir(), 'v2.1.eaplog'), '--json');
    expect(JSON.parse(info.out)).toMatchObject({ version: '2.1', message_count: 2 });
    expect((await ecps('eaplog', 'validate', '--strict', join(vectorsDir(), 'v1.0.eaplog'))).code).toBe(1);
  });
});
