// SPDX-License-Identifier: Apache-2.0
// Process groups as the kernel sees them (/proc): who is in a group, how much memory and CPU time it uses.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

export interface GroupUsage {
  pids: number[];
  rssBytes: number;
  /** utime + stime of every member, in clock ticks. */
  cpuTicks: number;
}

let systemConstants: Promise<{ pageSize: number; clockTicks: number }> | undefined;
/** The page size and clock ticks per second (`getconf`), read once. */
export function procConstants(): Promise<{ pageSize: number; clockTicks: number }> {
  systemConstants ??= (async () => {
    const get = async (name: string, fallback: number) => {
      try {
        return Number((await promisify(execFile)('getconf', [name])).stdout.trim()) || fallback;
      } catch {
        return fallback;
      }
    };
    return { pageSize: await get('PAGESIZE', 4096), clockTicks: await get('CLK_TCK', 100) };
  })();
  return systemConstants;
}

/**
 * One asynchronous pass over /proc: the members, summed RSS and CPU time of every process group in `pgids`
 * (a group without live members is absent). Never blocks the event loop.
 */
export async function scanProcessGroups(pgids: ReadonlySet<number>): Promise<Map<number, GroupUsage>> {
  const usage = new Map<number, GroupUsage>();
  if (pgids.size === 0) return usage;
  const { pageSize } = await procConstants();
  const entries = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    entries.map(async (name) => {
      let stat: string;
      try {
        stat = await readFile(`/proc/${name}/stat`, 'utf8');
      } catch {
        return; // exited while we looked
      }
      // fields after "(comm)": state ppid pgrp session … utime(14) stime(15) … rss(24)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pgid = Number(fields[2]);
      if (!pgids.has(pgid) || fields[0] === 'Z') return;
      let group = usage.get(pgid);
      if (!group) usage.set(pgid, (group = { pids: [], rssBytes: 0, cpuTicks: 0 }));
      group.pids.push(Number(name));
      group.cpuTicks += Number(fields[11]) + Number(fields[12]);
      group.rssBytes += Number(fields[21]) * pageSize;
    }),
  );
  return usage;
}

/** Live members of process group `pgid` (zombies excluded). */
export async function processGroupMembers(pgid: number): Promise<number[]> {
  return (await scanProcessGroups(new Set([pgid]))).get(pgid)?.pids ?? [];
}

/**
 * SIGKILL to group `pgid`, then waits (up to `timeoutMs`) until no live member remains: the kernel delivers the
 * signal asynchronously, and a caller told "stopped" must not still find the group's processes running.
 * Resolves false when members were still alive at the deadline.
 */
export async function killGroupAndWait(pgid: number, timeoutMs = 2000): Promise<boolean> {
  if (!signalGroup(pgid, 'SIGKILL')) return true;
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 10))) {
    if ((await processGroupMembers(pgid)).length === 0) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** Sends `signal` to every process of group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
