// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { isCodexError } from '@ecps/codex-registry';
import { SUPERVISOR_DEFAULTS, supervisorConfigFromEnv } from './config';

describe('supervisorConfigFromEnv', () => {
  it('has the documented defaults and resolves relative paths against the config directory', () => {
    const config = supervisorConfigFromEnv({}, '/etc/codex');
    expect(config).toEqual({ ...SUPERVISOR_DEFAULTS, botsDirectory: '/etc/codex/bots', logDir: '/etc/codex/logs/bots' });
    expect(config).toMatchObject({ memoryThresholdMb: 500, cpuThresholdPercent: 90, maxFailures: 5, failureDecaySec: 300, stopGraceSec: 5, logMaxBytes: 10 * 1024 * 1024, logBackups: 5 });
  });

  it('reads every variable and rejects malformed ones with a typed error', () => {
    const config = supervisorConfigFromEnv(
      { BOT_INTERPRETERS: '{"node":"/usr/bin/node"}', BOT_ENV_PASSTHROUGH: 'A, B', SANDBOX_UID: '999', SANDBOX_GID: '998', RESUME_ON_BOOT: 'false', MAX_FAILURES: '3' },
      '/srv',
    );
    expect(config).toMatchObject({ interpreters: { node: '/usr/bin/node' }, envPassthrough: ['A', 'B'], sandboxUid: 999, sandboxGid: 998, resumeOnBoot: false, maxFailures: 3 });
    for (const env of [{ BOT_INTERPRETERS: '{"node":"node"}' }, { BOT_INTERPRETERS: 'nope' }, { MEMORY_THRESHOLD_MB: 'lots' }]) {
      let error: unknown;
      try {
        supervisorConfigFromEnv(env, '/');
      } catch (e) {
        error = e;
      }
      expect(isCodexError(error, 'validation_error')).toBe(true);
    }
  });
});
