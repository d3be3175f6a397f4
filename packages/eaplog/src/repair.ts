// SPDX-License-Identifier: Apache-2.0
// `eaplog repair`: moves the part of a log that cannot be read (a torn tail, or everything from the first damaged
// record) into a side file, so the log is whole again and nothing is thrown away.
import { open } from 'node:fs/promises';
import { EcpsError, ValidationError } from '@ecps/core';
import { moveTailAside } from './file-io';
import { EaplogReader } from './reader';
import type { ParseOptions } from './reader';
import { unreadPart } from './validate';

export interface RepairReport {
  path: string;
  /** Messages the log holds after the repair. */
  messages: number;
  /** What was moved out, and where; absent when the log was already whole. */
  moved?: { offset: number; bytes: number; reason: string; sideFile: string };
}

/**
 * Makes a damaged log readable again: everything from the first byte that cannot be read is moved (copied durably,
 * then cut) into `<path>.torn-<offset>` or `<path>.damaged-<offset>`. Throws `LOG_CORRUPT` when the file is not an
 * action log or its header is damaged (there is nothing to keep), `ALREADY_EXISTS` when the side file exists,
 * `NOT_FOUND`/`IO_ERROR`.
 */
export async function repairEaplog(path: string, options: ParseOptions = {}): Promise<RepairReport> {
  const reader = await EaplogReader.open(path, options);
  let messages = 0;
  let unread: { offset: number; reason: string } | undefined;
  let torn = false;
  try {
    const intact: number[] = [];
    for await (const record of reader.records()) if (record.kind === 'data' && record.crcOk) intact.push(record.offset);
    const findings = await reader.finish();
    if (findings.notAnActionLog) {
      throw new ValidationError('LOG_CORRUPT', `${path} is not an action log (${findings.notAnActionLog.reason}); nothing to repair`, {
        details: { offset: findings.notAnActionLog.offset },
      });
    }
    unread = unreadPart(findings);
    torn = unread !== undefined && findings.tornTail?.offset === unread.offset;
    const cut = unread?.offset ?? Number.POSITIVE_INFINITY;
    messages = intact.filter((offset) => offset < cut).length;
  } finally {
    await reader.close();
  }
  if (!unread) return { path, messages };
  const sideFile = `${path}.${torn ? 'torn' : 'damaged'}-${unread.offset}`;
  const handle = await open(path, 'r+').catch((cause: unknown) => {
    throw new EcpsError('IO_ERROR', `cannot open ${path}: ${(cause as Error).message}`, { cause });
  });
  try {
    const bytes = await moveTailAside(handle, path, unread.offset, sideFile);
    return { path, messages, moved: { offset: unread.offset, bytes, reason: unread.reason, sideFile } };
  } finally {
    await handle.close();
  }
}
