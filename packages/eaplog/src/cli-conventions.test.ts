// SPDX-License-Identifier: Apache-2.0
// The command-line conventions the eaplog CLI shares with `ecps`: `--json` wherever data is printed, usage errors as
// one line naming the subcommand plus a hint (exit 2), numeric options refused in one sentence, every option described,
// and the program name of the host CLI in help and errors.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { vectorsDir } from '@ecps/testkit';
import { runEaplogCli } from './cli';

async function eaplog(args: string[], programName?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runEaplogCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), ...(programName ? { programName } : {}) });
  return { code, stdout, stderr };
}

const v21 = join(vectorsDir(), 'v2.1.eaplog');

describe('eaplog CLI conventions', () => {
  it('list and extract take --json, the same as --format json', async () => {
    const list = await eaplog(['list', v21, '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout).toBe((await eaplog(['list', v21, '--format', 'json'])).stdout);
    expect(JSON.parse(list.stdout)).toHaveLength(2);
    const extract = await eaplog(['extract', v21, '--json']);
    expect(extract.code).toBe(0);
    expect(extract.stdout).toBe((await eaplog(['extract', v21])).stdout);
  });

  it('a usage error is one line naming the subcommand, then a hint', async () => {
    expect(await eaplog(['list', v21, '--bogus'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "eaplog list: unknown option '--bogus'\nhint: see 'eaplog list --help'\n",
    });
    expect((await eaplog(['lsit'])).stderr).toBe("eaplog: unknown command 'lsit' (did you mean list?)\nhint: see 'eaplog --help'\n");
  });

  it('numeric options refuse anything but an integer, in one sentence, with exit 2', async () => {
    for (const [args, flag] of [
      [['list', v21, '--max', '1.5'], '--max <n>'],
      [['replay', v21, '--interval-ms', 'soon'], '--interval-ms <ms>'],
      [['create', 'never-written.eaplog', '--checkpoint-interval', '-1'], '--checkpoint-interval <n>'],
    ] as const) {
      const r = await eaplog([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`option '${flag}' argument '.*' is invalid\\. Expected an integer of at least 0\\.$`));
    }
    expect((await eaplog(['create', 'never-written.eaplog', '--created-at', 'noon'])).stderr).toMatch(/Expected a number of seconds\./);
  });

  it('names itself as its host CLI does, in help and in errors', async () => {
    const help = await eaplog(['--help'], 'ecps eaplog');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ecps eaplog \[options\] \[command\]/);
    expect((await eaplog(['info', 'no-such-file.eaplog'], 'ecps eaplog')).stderr).toMatch(/^ecps eaplog: NOT_FOUND: /);
    expect((await eaplog(['list', 'x.eaplog', '--max', 'x'], 'ecps eaplog')).stderr.split('\n')[1]).toBe("hint: see 'ecps eaplog list --help'");
  });

  it('describes every option of every subcommand', async () => {
    const commands = [...(await eaplog(['--help'])).stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThanOrEqual(11);
    for (const command of commands) {
      const { stdout } = await eaplog([command, '--help']);
      const options = (stdout.split(/^Options:$/m)[1] ?? '').split('\n').filter((l) => /^ {2}-/.test(l));
      expect(options.filter((l) => !/^ {2}-\S.*? {2,}\S/.test(l))).toEqual([]);
    }
  });
});
