// SPDX-License-Identifier: Apache-2.0
// A linearizability checker in the Wing & Gong / Lowe / Porcupine style: depth-first search for a sequential order
// that respects real time and the model, with memoisation of (set of linearised operations, model state), and
// P-compositionality (each partition, e.g. each key, is checked on its own).

/** One operation of a recorded history. `output` undefined = the caller never learned the outcome. */
export interface HistoryOperation<I, O> {
  readonly clientId: string;
  readonly input: I;
  readonly output: O | undefined;
  /** When the call was made and when it returned (`Infinity` when it never did); any totally ordered numbers. */
  readonly call: number;
  readonly return: number;
}

/** A sequential specification. */
export interface LinearizabilityModel<S, I, O> {
  init(): S;
  /** Applies `input` to `state`; `ok` false when `output` is not what the sequential object would answer. */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** A string identifying the state (for memoisation). */
  key(state: S): string;
  /** Splits a history into independent parts (default: none). */
  partition?(history: readonly HistoryOperation<I, O>[]): HistoryOperation<I, O>[][];
}

export interface LinearizabilityResult<I, O> {
  readonly ok: boolean;
  /** The part that could not be linearised, when `ok` is false. */
  readonly failingPartition?: readonly HistoryOperation<I, O>[];
  /** True when the search gave up (budget exhausted); `ok` is false then. */
  readonly inconclusive?: boolean;
}

interface Node<I, O> {
  op: HistoryOperation<I, O> | undefined;
  id: number;
  isCall: boolean;
  match: Node<I, O> | undefined;
  prev: Node<I, O> | undefined;
  next: Node<I, O> | undefined;
}

/**
 * Checks that `history` is linearizable with respect to `model`.
 * @param budget upper bound on search steps per partition (the problem is NP-complete); exceeding it makes the
 *   result inconclusive rather than hanging a test.
 */
export function checkLinearizability<S, I, O>(
  model: LinearizabilityModel<S, I, O>,
  history: readonly HistoryOperation<I, O>[],
  budget = 5_000_000,
): LinearizabilityResult<I, O> {
  const parts = model.partition ? model.partition(history) : [[...history]];
  for (const part of parts) {
    const r = checkPartition(model, part, budget);
    if (r !== 'ok') return { ok: false, failingPartition: part, ...(r === 'budget' ? { inconclusive: true } : {}) };
  }
  return { ok: true };
}

function checkPartition<S, I, O>(
  model: LinearizabilityModel<S, I, O>,
  ops: readonly HistoryOperation<I, O>[],
  budget: number,
): 'ok' | 'fail' | 'budget' {
  if (ops.length === 0) return 'ok';
  // events in time order; at equal times calls come first (the operations overlap)
  const events: Node<I, O>[] = [];
  ops.forEach((op, id) => {
    const call: Node<I, O> = { op, id, isCall: true, match: undefined, prev: undefined, next: undefined };
    const ret: Node<I, O> = { op, id, isCall: false, match: undefined, prev: undefined, next: undefined };
    call.match = ret;
    events.push(call, ret);
  });
  const time = (n: Node<I, O>) => (n.isCall ? (n.op as HistoryOperation<I, O>).call : (n.op as HistoryOperation<I, O>).return);
  events.sort((a, b) => time(a) - time(b) || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Node<I, O> = { op: undefined, id: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (n: Node<I, O>) => {
    (n.prev as Node<I, O>).next = n.next;
    if (n.next) n.next.prev = n.prev;
    const m = n.match as Node<I, O>;
    (m.prev as Node<I, O>).next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (n: Node<I, O>) => {
    const m = n.match as Node<I, O>;
    (m.prev as Node<I, O>).next = m;
    if (m.next) m.next.prev = m;
    (n.prev as Node<I, O>).next = n;
    if (n.next) n.next.prev = n;
  };

  const linearized = new Uint32Array(Math.ceil(ops.length / 32));
  const cache = new Set<string>();
  const stack: { node: Node<I, O>; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  while (head.next) {
    if (++steps > budget) return 'budget';
    const e = entry as Node<I, O>;
    if (e.isCall) {
      const op = e.op as HistoryOperation<I, O>;
      const r = model.step(state, op.input, op.output);
      if (r.ok) {
        linearized[e.id >> 5] = (linearized[e.id >> 5] as number) | (1 << (e.id & 31));
        const key = `${linearized.join(',')}|${model.key(r.state)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: e, state });
          state = r.state;
          lift(e);
          entry = head.next;
          continue;
        }
        linearized[e.id >> 5] = (linearized[e.id >> 5] as number) & ~(1 << (e.id & 31));
      }
      entry = e.next;
    } else {
      // a return before its call was linearised: undo the last choice
      const top = stack.pop();
      if (!top) return 'fail';
      state = top.state;
      linearized[top.node.id >> 5] = (linearized[top.node.id >> 5] as number) & ~(1 << (top.node.id & 31));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return 'ok';
}
