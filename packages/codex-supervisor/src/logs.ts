// SPDX-License-Identifier: Apache-2.0
// Bot output: files the child appends to directly (no pipes, so a chatty bot can never block on us), rotated by
// copy-and-truncate, read from the tail without blocking.
import { closeSync, constants, openSync } from 'node:fs';
import { copyFile, mkdir, open, rename, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';

export type LogStream = 'stdout' | 'stderr';

export function logFile(logDir: string, botId: string, stream: LogStream): string {
  return join(logDir, botId, `${stream}.log`);
}

/** Opens (creating) the bot's two log files for appending, mode 0640; the caller hands the descriptors to the child. */
export async function openLogDescriptors(logDir: string, botId: string): Promise<[number, number]> {
  await mkdir(join(logDir, botId), { recursive: true, mode: 0o750 });
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;
  const out = openSync(logFile(logDir, botId, 'stdout'), flags, 0o640);
  try {
    return [out, openSync(logFile(logDir, botId, 'stderr'), flags, 0o640)];
  } catch (error) {
    closeSync(out);
    throw error;
  }
}

/**
 * When `file` is larger than `maxBytes`: shift `.1…(backups-1)` to `.2…backups`, copy the file to `.1` and truncate
 * it to zero. The child keeps appending (O_APPEND) to the same file; lines written between the copy and the truncate
 * are lost, the price of never pausing the bot. Returns true when it rotated.
 */
export async function rotateLog(file: string, maxBytes: number, backups: number): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  for (let i = backups - 1; i >= 1; i--) await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => {});
  await copyFile(file, `${file}.1`);
  await truncate(file, 0);
  return true;
}

/** The last `bytes` of `file` (empty when missing), read at an offset: cost is bounded by `bytes`, not the file. */
export async function readLogTail(file: string, bytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = (await handle.stat()).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, size - length);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
