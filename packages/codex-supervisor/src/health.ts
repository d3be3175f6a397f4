// SPDX-License-Identifier: Apache-2.0
// Health probes of a running bot: an HTTP endpoint, a TCP port, or a heartbeat file it touches.
import { connect } from 'node:net';
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { HealthCheck } from '@ecps/codex-registry';

/** The result of one probe: `ok`, or what was wrong. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

/** Seconds between probes of a check (heartbeat files are looked at every tick). */
export function probeIntervalSec(check: HealthCheck): number {
  return check.type === 'http' || check.type === 'tcp' ? (check.interval_sec ?? 10) : 0;
}

/** Consecutive failures that make a bot unhealthy. */
export function failureThreshold(check: HealthCheck): number {
  return check.type === 'http' || check.type === 'tcp' ? (check.failure_threshold ?? 3) : 1;
}

/**
 * Runs one probe. HTTP: `GET http://127.0.0.1:<port><path>` must answer 2xx within `timeout_sec`. TCP: the port
 * must accept a connection within `timeout_sec`. Heartbeat file (relative to the bot's working directory, which it
 * may not leave): its mtime must be at most `max_age_sec` old at `nowMs`.
 */
export async function probe(check: HealthCheck, workDir: string, nowMs: number): Promise<ProbeResult> {
  switch (check.type) {
    default:
      return { ok: true };
    case 'http': {
      const url = `http://127.0.0.1:${check.port}${check.path ?? '/health'}`;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout((check.timeout_sec ?? 2) * 1000), redirect: 'manual' });
        await response.body?.cancel();
        return response.status >= 200 && response.status < 300 ? { ok: true } : { ok: false, reason: `GET ${url} answered ${response.status}` };
      } catch (error) {
        return { ok: false, reason: `GET ${url} failed: ${(error as Error).message}` };
      }
    }
    case 'tcp':
      return new Promise((done) => {
        const socket = connect({ host: '127.0.0.1', port: check.port });
        const finish = (result: ProbeResult) => {
          socket.destroy();
          done(result);
        };
        socket.setTimeout((check.timeout_sec ?? 2) * 1000, () => finish({ ok: false, reason: `tcp ${check.port}: timed out` }));
        socket.once('connect', () => finish({ ok: true }));
        socket.once('error', (error) => finish({ ok: false, reason: `tcp ${check.port}: ${error.message}` }));
      });
    case 'heartbeat_file': {
      const file = resolve(workDir, check.path);
      if (!file.startsWith(workDir + sep)) return { ok: false, reason: `heartbeat file ${check.path} is outside the working directory` };
      try {
        const age = (nowMs - (await stat(file)).mtimeMs) / 1000;
        const max = check.max_age_sec ?? 30;
        return age <= max ? { ok: true } : { ok: false, reason: `heartbeat file ${check.path} is ${Math.round(age)} s old (max ${max} s)` };
      } catch {
        return { ok: false, reason: `heartbeat file ${check.path} does not exist` };
      }
    }
  }
}
