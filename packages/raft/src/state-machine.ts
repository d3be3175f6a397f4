// SPDX-License-Identifier: Apache-2.0

/**
 * What Raft replicates into. Every replica applies the same commands in the same order, so `apply` must be
 * deterministic (no clock, no randomness, no I/O whose result differs between replicas).
 */
export interface StateMachine {
  /** Applies the committed command at log `index` and returns the reply for the proposer. */
  apply(command: Uint8Array, index: number): Uint8Array;
  /** The whole state (for log compaction and for followers too far behind). */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's. @throws EcpsError `DECODE_ERROR` for bytes `snapshot()` did not produce. */
  restore(data: Uint8Array): void;
}
