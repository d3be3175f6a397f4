// SPDX-License-Identifier: Apache-2.0
// Launches a real etcd cluster (Debian `etcd-server`) of N members on free loopback ports; stops them by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port';

export interface EtcdClusterHandle {
  /** `http://127.0.0.1:<port>` per member. */
  readonly endpoints: readonly string[];
  readonly pids: readonly number[];
  /** SIGTERM each member (SIGKILL after 3 s) and remove the data directories. Idempotent. */
  stop(): Promise<void>;
}

function etcdBinary(): string {
  for (const candidate of ['/usr/bin/etcd', '/usr/local/bin/etcd']) if (existsSync(candidate)) return candidate;
  return 'etcd';
}

/** Starts `members` etcd members (default 3) forming one new cluster; resolves when every client port accepts. */
export async function startEtcdCluster(members = 3): Promise<EtcdClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-etcd-'));
  const ports = await Promise.all(Array.from({ length: members }, async () => ({ client: await freePort(), peer: await freePort() })));
  const names = ports.map((_, i) => `m${i + 1}`);
  const initial = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
  const children: ChildProcess[] = ports.map((p, i) =>
    spawn(
      etcdBinary(),
      [
        '--name', names[i] as string,
        '--data-dir', join(dir, names[i] as string),
        '--listen-client-urls', `http://127.0.0.1:${p.client}`,
        '--advertise-client-urls', `http://127.0.0.1:${p.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initial,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', 'ecps-bench',
        '--log-level', 'error',
      ],
      { stdio: 'ignore' },
    ),
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return resolve();
            const t = setTimeout(() => c.pid !== undefined && process.kill(c.pid, 'SIGKILL'), 3_000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            process.kill(c.pid, 'SIGTERM');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((p) => waitForPort(p.client, 20_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoints: ports.map((p) => `http://127.0.0.1:${p.client}`), pids: children.map((c) => c.pid ?? -1), stop };
}
