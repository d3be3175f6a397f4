// SPDX-License-Identifier: Apache-2.0
// Replays the actions of a log in recorded order (spec §5.2, §6.8): to a handler, optionally paced, checking the
// state_sha sequence against an expected one (deterministic replay; CI fails on divergence).
import { EAP } from '@ecps/proto';
import type { EAP as EapMessage } from '@ecps/proto';
import { EcpsError, assertValidEap, toHex } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { MessageDecoder } from './decode';
import { EaplogReader } from './reader';
import { unreadPart } from './validate';

export interface ReplayedAction {
  index: number;
  id: string;
  actionType: string;
  stateSha: string;
  size: number;
  eap: EapMessage;
  bytes: Uint8Array;
}

export interface ReplayOptions {
  /** Receives every action in order; awaited before the next one. */
  handler?: (action: ReplayedAction) => void | Promise<void>;
  /** Pause between actions in ms (0 = as fast as the handler allows). */
  intervalMs?: number;
  /** Expected state_sha sequence (hex, one per action); replay stops at the first divergence. */
  expectStateHashes?: readonly string[];
  keyProvider?: KeyProvider;
  signal?: AbortSignal;
}

export interface ReplayResult {
  replayed: number;
  divergence?: { index: number; expected: string | undefined; actual: string | undefined };
  /** Part of the log that could not be replayed (torn tail, corrupt record), when there is one. */
  unread?: { offset: number; reason: string };
}

/** oneof case name → spec action_type name. */
const ACTION_TYPES: Record<string, string> = {
  setPose: 'set_pose',
  gripper: 'gripper',
  cloud: 'cloud',
  sim: 'sim',
  navigate: 'navigate',
  manipulate: 'manipulate',
};

/** The spec action_type of a decoded EAP (`set_pose`, `gripper`, ...; `none` without a body). */
export function actionTypeOf(eap: EapMessage): string {
  return eap.body ? (ACTION_TYPES[eap.body.$case] ?? eap.body.$case) : 'none';
}

/**
 * Replays a log file (streamed: memory does not grow with the file) or log bytes. Throws `DECODE_ERROR`/validation
 * codes for a message that is not a valid EAP, `CANCELLED` when the signal aborts, the read errors of the file and
 * the header errors of the reader. Records that could not be read are reported in `unread`.
 */
export async function replayEaplog(source: string | Uint8Array, options: ReplayOptions = {}): Promise<ReplayResult> {
  const reader = typeof source === 'string' ? await EaplogReader.open(source) : await EaplogReader.fromBytes(source);
  try {
    const decoder = new MessageDecoder(reader.head, options.keyProvider ? { keyProvider: options.keyProvider } : {});
    const expected = options.expectStateHashes?.map((h) => h.trim().toLowerCase());
    let replayed = 0;
    for await (const record of reader.records()) {
      const message = await decoder.decode(record);
      if (!message) continue;
      if (options.signal?.aborted) throw new EcpsError('CANCELLED', 'replay interrupted');
      let eap: EapMessage;
      try {
        eap = EAP.decode(message.data);
      } catch (cause) {
        throw new EcpsError('DECODE_ERROR', `message ${message.index} at offset ${message.offset} is not an EAP message`, { cause });
      }
      assertValidEap(eap);
      const stateSha = toHex(eap.stateSha);
      if (expected && expected[message.index] !== stateSha) {
        return { replayed, divergence: { index: message.index, expected: expected[message.index], actual: stateSha } };
      }
      if (replayed > 0 && options.intervalMs) await pause(options.intervalMs, options.signal);
      await options.handler?.({ index: message.index, id: eap.id, actionType: actionTypeOf(eap), stateSha, size: message.data.length, eap, bytes: message.data });
      replayed++;
    }
    const unread = unreadPart(await reader.finish());
    const result: ReplayResult = { replayed, ...(unread ? { unread } : {}) };
    if (expected && expected.length > replayed) result.divergence = { index: replayed, expected: expected[replayed], actual: undefined };
    return result;
  } finally {
    await reader.close();
  }
}

/** Waits `ms`, or rejects with `CANCELLED` as soon as the signal aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new EcpsError('CANCELLED', 'replay interrupted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
