// SPDX-License-Identifier: Apache-2.0
// A process is identified by its pid and its kernel start time, so a reused pid is never taken for the old process.
import { readFile } from 'node:fs/promises';

/**
 * The kernel start time of `pid` (field 22 of `/proc/<pid>/stat`, clock ticks since boot), or null when no such
 * process exists (or it is a zombie already reaped by the time we read). Linux only.
 */
export async function processStartTime(pid: number): Promise<number | null> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ')'; fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : null;
}

/** True when `pid` is alive and started at `startTime` (the same process, not a reuse of its pid). */
export async function isSameProcess(pid: number, startTime: number): Promise<boolean> {
  return (await processStartTime(pid)) === startTime;
}
