// SPDX-License-Identifier: Apache-2.0
// Least-recently-used order as an intrusive doubly linked list: refreshing an entry is a few pointer writes, with
// no hashing and no table rehash (a Map kept in recency order costs a delete and a re-insert per refresh).

/** One entry's place in a {@link RecencyList}; owned by the list. */
export interface RecencyNode<T> {
  readonly value: T;
  older: RecencyNode<T> | undefined;
  newer: RecencyNode<T> | undefined;
  /** False once removed: refreshing a removed node is a no-op. */
  linked: boolean;
}

/** Written so the optimiser keeps {@link RecencyList.touchAll}'s first pass. */
let _warmed = 0;

/** Values from least to most recently used. */
export class RecencyList<T> {
  private head: RecencyNode<T> | undefined;
  private tail: RecencyNode<T> | undefined;

  /** Appends `value` as the most recently used; keep the node to refresh or remove it. */
  add(value: T): RecencyNode<T> {
    const node: RecencyNode<T> = { value, older: undefined, newer: undefined, linked: false };
    this.link(node);
    return node;
  }

  /** Makes `node` the most recently used. */
  touch(node: RecencyNode<T>): void {
    if (!node.linked || node === this.tail) return;
    this.unlink(node);
    this.link(node);
  }

  /**
   * Makes each of `items`' nodes the most recently used, in order. The nodes and their neighbours are read in one
   * pass first: in a large list they sit in cold memory, and loads with no dependency between them let the CPU wait
   * for many misses at once, where touching one node after the other waits for each node's misses in turn.
   */
  touchAll<I>(items: readonly I[], nodeOf: (item: I) => RecencyNode<T>): void {
    let linked = 0;
    for (const item of items) {
      const node = nodeOf(item);
      if (node.older?.linked) linked++;
      if (node.newer?.linked) linked++;
    }
    _warmed = linked;
    for (const item of items) this.touch(nodeOf(item));
  }

  remove(node: RecencyNode<T>): void {
    if (node.linked) this.unlink(node);
  }

  /** The least recently used value. */
  get oldest(): T | undefined {
    return this.head?.value;
  }

  /** Least recently used first. */
  *values(): IterableIterator<T> {
    for (let node = this.head; node; ) {
      const next = node.newer;
      yield node.value;
      node = next;
    }
  }

  private link(node: RecencyNode<T>): void {
    node.older = this.tail;
    node.newer = undefined;
    if (this.tail) this.tail.newer = node;
    else this.head = node;
    this.tail = node;
    node.linked = true;
  }

  private unlink(node: RecencyNode<T>): void {
    if (node.older) node.older.newer = node.newer;
    else this.head = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.tail = node.older;
    node.older = undefined;
    node.newer = undefined;
    node.linked = false;
  }
}
