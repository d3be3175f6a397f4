// SPDX-License-Identifier: Apache-2.0
// Replays the actions of a log in recorded order (spec §5.2, §6.8): to a handler, optionally paced, checking the
// state_sha sequence against an expected one (deterministic replay; CI fails on divergence).
import { EAP } from '@ecps/proto';
import type { EAP as EapMessage } from '@ecps/proto';
import { EcpsError, assertValidEap, toHex } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { decodeMessages } from './decode';
import { readBytes } from './file-io';
import { parseEaplog } from './reader';

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
 * Replays a log file or log bytes. Throws `DECODE_ERROR`/validation codes for a message that is not a valid EAP,
 * `CANCELLED` when the signal aborts, and the read errors of the file.
 */
export async function replayEaplog(source: string | Uint8Array, options: ReplayOptions = {}): Promise<ReplayResult> {
  const bytes = typeof source === 'string' ? await readBytes(source) : source;
  const parsed = parseEaplog(bytes);
  const messages = await decodeMessages(parsed, options.keyProvider ? { keyProvider: options.keyProvider } : {});
  const expected = options.expectStateHashes?.map((h) => h.trim().toLowerCase());
  let replayed = 0;
  for (const message of messages) {
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
  if (expected && expected.length > messages.length) {
    return { replayed, divergence: { index: messages.length, expected: expected[messages.length], actual: undefined } };
  }
  return { replayed };
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
