// SPDX-License-Identifier: Apache-2.0
// Launches a real etcd cluster (Debian `etcd-server`) of N members on free loopback ports; stops them by pid.
// Single members can be killed (SIGKILL, as a crash) and restarted on their data directory, to test failover.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port';

export interface EtcdClusterHandle {
  /** `http://127.0.0.1:<port>` per member. */
  readonly endpoints: readonly string[];
  /** The current process id of each member (-1 while a member is killed). */
  readonly pids: readonly number[];
  /** SIGKILLs member `index` (a crash: no clean shutdown); resolves when the process is gone. */
  kill(index: number): Promise<void>;
  /** Starts a killed member again on its data directory; resolves when its client port accepts. */
  restart(index: number): Promise<void>;
  /** SIGTERM each member (SIGKILL after 3 s) and remove the data directories. Idempotent. */
  stop(): Promise<void>;
}

function etcdBinary(): string {
  for (const candidate of ['/usr/bin/etcd', '/usr/local/bin/etcd']) if (existsSync(candidate)) return candidate;
  return 'etcd';
}

/** Sends `signal` to a running child and resolves when it has exited. */
function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    const pid = child.pid;
    const t = signal === 'SIGKILL' ? undefined : setTimeout(() => process.kill(pid, 'SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    process.kill(pid, signal);
  });
}

/** Starts `members` etcd members (default 3) forming one new cluster; resolves when every client port accepts. */
export async function startEtcdCluster(members = 3): Promise<EtcdClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-etcd-'));
  const ports = await Promise.all(Array.from({ length: members }, async () => ({ client: await freePort(), peer: await freePort() })));
  const names = ports.map((_, i) => `m${i + 1}`);
  const initial = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
  const launch = (i: number, state: 'new' | 'existing'): ChildProcess => {
    const p = ports[i] as { client: number; peer: number };
    return spawn(
      etcdBinary(),
      [
        '--name', names[i] as string,
        '--data-dir', join(dir, names[i] as string),
        '--listen-client-urls', `http://127.0.0.1:${p.client}`,
        '--advertise-client-urls', `http://127.0.0.1:${p.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initial,
        '--initial-cluster-state', state,
        '--initial-cluster-token', 'ecps-testkit',
        '--log-level', 'error',
      ],
      { stdio: 'ignore' },
    );
  };
  const children: (ChildProcess | undefined)[] = ports.map((_, i) => launch(i, 'new'));
  const running = (i: number): ChildProcess | undefined => {
    const c = children[i];
    return c && c.exitCode === null && c.signalCode === null ? c : undefined;
  };
  const member = (i: number): void => {
    if (!Number.isInteger(i) || i < 0 || i >= members) throw new RangeError(`no etcd member ${i}`);
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(children.map((c) => (c ? end(c, 'SIGTERM') : undefined)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((p) => waitForPort(p.client, 20_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    endpoints: ports.map((p) => `http://127.0.0.1:${p.client}`),
    get pids() {
      return children.map((_, i) => running(i)?.pid ?? -1);
    },
    async kill(i) {
      member(i);
      const c = running(i);
      if (c) await end(c, 'SIGKILL');
    },
    async restart(i) {
      member(i);
      if (stopped) throw new Error('the etcd cluster was stopped');
      if (running(i)) return;
      children[i] = launch(i, 'existing');
      await waitForPort((ports[i] as { client: number }).client, 20_000);
    },
    stop,
  };
}
