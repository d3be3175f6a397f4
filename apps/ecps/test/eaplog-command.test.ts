// SPDX-License-Identifier: Apache-2.0
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { vectorsDir } from '@ecps/testkit';
import { ecps } from './run-ecps';

describe('ecps eaplog', () => {
  it('delegates to the eaplog CLI with its options and exit codes', async () => {
    expect(await ecps(['eaplog', 'list-versions'])).toMatchObject({ code: 0, stdout: '1.0\n1.1\n2.0\n2.1 (latest)\n', stderr: '' });
    const info = await ecps(['eaplog', 'info', join(vectorsDir(), 'v2.1.eaplog'), '--json']);
    expect(JSON.parse(info.stdout)).toMatchObject({ version: '2.1', message_count: 2 });
    const strict = await ecps(['eaplog', 'validate', '--strict', join(vectorsDir(), 'v1.0.eaplog')]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/INVALID/);
  });

  it('a file that cannot be read is one line on stderr, no stack trace', async () => {
    const r = await ecps(['eaplog', 'info', 'no-such-file.eaplog']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ecps eaplog: NOT_FOUND: /);
  });
});
