// SPDX-License-Identifier: Apache-2.0
// The replicated key-value store: put, delete, compare-and-set (and logged gets), applied exactly once per
// (client id, sequence) thanks to a session table that is part of the replicated state (thesis §6.3).
import { ValidationError } from '@ecps/core';
import { KvCommand, KvResult, KvSnapshotData } from '@ecps/proto/ext/v1';
import type { StateMachine } from './state-machine';

interface Session {
  sequence: bigint;
  result: KvResult;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const EMPTY = new Uint8Array(0);

/** A key-value {@link StateMachine}. Commands are encoded `KvCommand`s; replies are encoded `KvResult`s. */
export class KvStateMachine implements StateMachine {
  private data = new Map<string, Uint8Array>();
  private sessions = new Map<string, Session>();

  /** Reads the local replica (linearizable only after a ReadIndex round, see RaftNode.get). */
  read(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  apply(command: Uint8Array, index: number): Uint8Array {
    return KvResult.encode(this.applyCommand(command, index)).finish();
  }

  /** Like {@link apply} but returns the decoded result. */
  applyCommand(command: Uint8Array, index: number): KvResult {
    let cmd: KvCommand;
    try {
      cmd = KvCommand.decode(command);
    } catch {
      // a malformed entry must not stop the replica: every replica skips it the same way
      return { ok: false, value: EMPTY, found: false, index: BigInt(index) };
    }
    const session = cmd.clientId === '' ? undefined : this.sessions.get(cmd.clientId);
    // a retried or stale command: answer with what it got the first time, never apply twice
    if (session && cmd.sequence <= session.sequence) return session.result;
    const result = this.execute(cmd, index);
    if (cmd.clientId !== '') this.sessions.set(cmd.clientId, { sequence: cmd.sequence, result });
    return result;
  }

  private execute(cmd: KvCommand, index: number): KvResult {
    const at = BigInt(index);
    const op = cmd.op;
    switch (op?.$case) {
      case 'put':
        this.data.set(op.value.key, op.value.value);
        return { ok: true, value: EMPTY, found: false, index: at };
      case 'delete': {
        const found = this.data.delete(op.value.key);
        return { ok: true, value: EMPTY, found, index: at };
      }
      case 'cas': {
        const cur = this.data.get(op.value.key);
        const matches = op.value.expectAbsent ? cur === undefined : cur !== undefined && equalBytes(cur, op.value.expected);
        if (matches) this.data.set(op.value.key, op.value.value);
        return { ok: matches, value: matches ? EMPTY : (cur ?? EMPTY), found: cur !== undefined, index: at };
      }
      case 'get': {
        const cur = this.data.get(op.value.key);
        return { ok: cur !== undefined, value: cur ?? EMPTY, found: cur !== undefined, index: at };
      }
      default:
        return { ok: false, value: EMPTY, found: false, index: at };
    }
  }

  snapshot(): Uint8Array {
    const keys = [...this.data.keys()].sort();
    const clients = [...this.sessions.keys()].sort();
    return KvSnapshotData.encode({
      entries: keys.map((key) => ({ key, value: this.data.get(key) as Uint8Array })),
      sessions: clients.map((clientId) => {
        const s = this.sessions.get(clientId) as Session;
        return { clientId, sequence: s.sequence, result: s.result };
      }),
    }).finish();
  }

  restore(bytes: Uint8Array): void {
    let snap: KvSnapshotData;
    try {
      snap = KvSnapshotData.decode(bytes);
    } catch (cause) {
      throw new ValidationError('DECODE_ERROR', 'not a key-value snapshot', { cause });
    }
    this.data = new Map(snap.entries.map((e) => [e.key, e.value]));
    this.sessions = new Map(
      snap.sessions.map((s) => [
        s.clientId,
        { sequence: s.sequence, result: s.result ?? { ok: false, value: EMPTY, found: false, index: 0n } },
      ]),
    );
  }
}
