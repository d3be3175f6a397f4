// SPDX-License-Identifier: Apache-2.0
// Which subscriptions a topic reaches: exact filters in a map, wildcard filters in a trie of topic levels, and a
// bounded cache of answers per topic that any attach or detach clears. Answers keep attach order.

interface TrieNode<T> {
  readonly children: Map<string, TrieNode<T>>;
  plus: TrieNode<T> | undefined;
  /** Filters ending in `#` here: they match this level and everything below it. */
  readonly rest: Set<T>;
  /** Filters ending exactly here. */
  readonly end: Set<T>;
}

const node = <T>(): TrieNode<T> => ({ children: new Map(), plus: undefined, rest: new Set(), end: new Set() });
const isEmpty = <T>(n: TrieNode<T>) => n.children.size === 0 && !n.plus && n.rest.size === 0 && n.end.size === 0;

/** Default number of topics whose recipients are cached. */
export const DEFAULT_ROUTE_CACHE_TOPICS = 4096;

/** @internal MQTT `+`/`#` matching (as `topicMatches` of @ecps/core) for many filters at once. */
export class TopicRouter<T> {
  private readonly exact = new Map<string, Set<T>>();
  private readonly wildcards: TrieNode<T> = node();
  private readonly order = new Map<T, number>();
  private readonly cache = new Map<string, readonly T[]>();
  private sequence = 0;

  constructor(private readonly maxCachedTopics = DEFAULT_ROUTE_CACHE_TOPICS) {}

  add(filter: string, target: T): void {
    this.order.set(target, this.sequence++);
    this.cache.clear();
    if (!filter.includes('+') && !filter.includes('#')) {
      let set = this.exact.get(filter);
      if (!set) this.exact.set(filter, (set = new Set()));
      set.add(target);
      return;
    }
    let at = this.wildcards;
    for (const level of filter.split('/')) {
      if (level === '#') {
        at.rest.add(target);
        return;
      }
      if (level === '+') at = at.plus ??= node();
      else {
        let next = at.children.get(level);
        if (!next) at.children.set(level, (next = node()));
        at = next;
      }
    }
    at.end.add(target);
  }

  remove(filter: string, target: T): void {
    if (!this.order.delete(target)) return;
    this.cache.clear();
    const set = this.exact.get(filter);
    if (set?.delete(target)) {
      if (set.size === 0) this.exact.delete(filter);
      return;
    }
    // walk down, then prune the nodes this filter alone kept alive
    const path: [TrieNode<T>, string][] = [];
    let at = this.wildcards;
    for (const level of filter.split('/')) {
      if (level === '#') {
        at.rest.delete(target);
        break;
      }
      const next = level === '+' ? at.plus : at.children.get(level);
      if (!next) return;
      path.push([at, level]);
      at = next;
    }
    at.end.delete(target);
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = level === '+' ? parent.plus! : parent.children.get(level)!;
      if (!isEmpty(child)) break;
      if (level === '+') parent.plus = undefined;
      else parent.children.delete(level);
    }
  }

  /** The targets whose filter matches `topic`, in the order they were added. Do not mutate the array. */
  match(topic: string): readonly T[] {
    const cached = this.cache.get(topic);
    if (cached) return cached;
    const found: T[] = [...(this.exact.get(topic) ?? [])];
    if (!isEmpty(this.wildcards)) {
      const sizeBefore = found.length;
      this.collect(this.wildcards, topic.split('/'), 0, found);
      if (found.length > sizeBefore) found.sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    }
    if (this.cache.size >= this.maxCachedTopics) this.cache.clear();
    this.cache.set(topic, found);
    return found;
  }

  private collect(at: TrieNode<T>, levels: readonly string[], i: number, found: T[]): void {
    for (const t of at.rest) found.push(t);
    if (i === levels.length) {
      for (const t of at.end) found.push(t);
      return;
    }
    const child = at.children.get(levels[i]!);
    if (child) this.collect(child, levels, i + 1, found);
    if (at.plus) this.collect(at.plus, levels, i + 1, found);
  }
}
