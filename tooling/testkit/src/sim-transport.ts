// SPDX-License-Identifier: Apache-2.0
// ECPS Transports inside a SimNetwork: a broker that delivers each published event to every node with a matching
// subscription, one simulated message per receiving node (so loss, delay, duplication, partitions, pauses and crashes
// apply between the publisher and each subscriber). Request/reply and streams ride on publish/subscribe (PubSubRpc)
// with the node's simulated clock. Production code (Raft nodes, KV servers and clients) runs on it unchanged.
import {
  PubSubRpc,
  TransportError,
  cryptoRandom,
  nodeSource,
  topicMatches,
  type EcpsEvent,
  type EventHandler,
  type PublishOptions,
  type RandomSource,
  type RequestHandler,
  type RequestOptions,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';
import type { SimNetwork } from './sim-network';

/** What travels on the simulated wire. */
export interface SimPacket {
  readonly topic: string;
  readonly event: EcpsEvent;
}

interface SimSubscription {
  readonly node: string;
  readonly filter: string;
  readonly handler: EventHandler;
  readonly incarnation: number;
  active: boolean;
  readonly queue: SimPacket[];
  pumping: boolean;
}

export interface SimTransportOptions {
  /** Default 1 MiB + 4096 (the standard profile). */
  readonly maxPayloadSize?: number;
  /** For correlation and event ids (default crypto; pass a seeded one for exact replays). */
  readonly random?: RandomSource;
}

/** Counts what the broker did (for proving that traffic flowed). */
export interface SimBrokerStats {
  published: number;
  handled: number;
}

/**
 * The simulated broker. One per SimNetwork; it owns the network's delivery callback. A transport belongs to one
 * incarnation of its node: after the node crashes it publishes nothing and its subscriptions are gone, as a dead
 * process's would be.
 */
export class SimBroker {
  readonly stats: SimBrokerStats = { published: 0, handled: 0 };
  private readonly subs = new Map<string, Set<SimSubscription>>();

  constructor(private readonly net: SimNetwork<SimPacket>) {
    net.onDeliver((to, packet) => this.deliver(to, packet));
  }

  /** A transport for `nodeId` (its current incarnation), already connected. */
  transport(nodeId: string, options: SimTransportOptions = {}): Transport {
    return new SimTransport(this, this.net, nodeId, options);
  }

  /** @internal */
  publish(from: string, packet: SimPacket): void {
    this.stats.published++;
    for (const [node, set] of this.subs) {
      for (const s of set) {
        if (this.live(s) && matches(s.filter, packet.topic)) {
          this.net.send(from, node, packet);
          break;
        }
      }
    }
  }

  /** @internal */
  add(sub: SimSubscription): void {
    let set = this.subs.get(sub.node);
    if (!set) {
      set = new Set();
      this.subs.set(sub.node, set);
    }
    set.add(sub);
  }

  /** @internal */
  remove(sub: SimSubscription): void {
    sub.active = false;
    this.subs.get(sub.node)?.delete(sub);
  }

  private live(sub: SimSubscription): boolean {
    if (sub.active && sub.incarnation === this.net.incarnation(sub.node)) return true;
    this.remove(sub);
    return false;
  }

  private deliver(to: string, packet: SimPacket): void {
    for (const sub of [...(this.subs.get(to) ?? [])]) {
      if (!this.live(sub) || !matches(sub.filter, packet.topic)) continue;
      sub.queue.push(packet);
      if (!sub.pumping) void this.pump(sub);
    }
  }

  /** One event at a time per subscription, in arrival order (the Transport contract). */
  private async pump(sub: SimSubscription): Promise<void> {
    sub.pumping = true;
    while (sub.queue.length > 0 && this.live(sub)) {
      const { topic, event } = sub.queue.shift() as SimPacket;
      this.stats.handled++;
      try {
        const r = sub.handler(event, topic);
        if (r) await r;
      } catch {
        // a failing handler does not stop the subscription
      }
    }
    sub.pumping = false;
  }
}

/** Exact filters (the common case here) compare at once; wildcards go through the MQTT rules. */
function matches(filter: string, topic: string): boolean {
  return filter === topic || ((filter.includes('+') || filter.includes('#')) && topicMatches(filter, topic));
}

class SimTransport implements Transport {
  readonly kind = 'sim';
  readonly maxPayloadSize: number;
  private readonly incarnation: number;
  private readonly rpc: PubSubRpc;
  private readonly mine = new Set<SimSubscription>();
  private closed = false;

  constructor(
    private readonly broker: SimBroker,
    private readonly net: SimNetwork<SimPacket>,
    private readonly nodeId: string,
    options: SimTransportOptions,
  ) {
    this.maxPayloadSize = options.maxPayloadSize ?? 1024 * 1024 + 4096;
    this.incarnation = net.incarnation(nodeId);
    this.rpc = new PubSubRpc(
      { publish: (t, e, o) => this.publish(t, e, o), subscribe: (f, h, o) => this.subscribe(f, h, o) },
      { source: nodeSource(nodeId), clock: net.clock(nodeId), random: options.random ?? cryptoRandom },
    );
  }

  private get dead(): boolean {
    return this.net.incarnation(this.nodeId) !== this.incarnation;
  }

  async connect(): Promise<void> {}

  async publish(topic: string, event: EcpsEvent, _options?: PublishOptions): Promise<void> {
    if (this.closed) throw new TransportError('CLOSED', 'sim transport closed');
    if (event.data.length > this.maxPayloadSize) {
      throw new TransportError('MESSAGE_TOO_LARGE', `event data is ${event.data.length} bytes; the limit is ${this.maxPayloadSize}`);
    }
    // a crashed process sends nothing
    if (!this.dead) this.broker.publish(this.nodeId, { topic, event });
  }

  async subscribe(filter: string, handler: EventHandler, _options?: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new TransportError('CLOSED', 'sim transport closed');
    const sub: SimSubscription = { node: this.nodeId, filter, handler, incarnation: this.incarnation, active: true, queue: [], pumping: false };
    if (!this.dead) this.broker.add(sub);
    this.mine.add(sub);
    return {
      filter,
      unsubscribe: async () => {
        this.mine.delete(sub);
        this.broker.remove(sub);
      },
    };
  }

  request(service: string, request: EcpsEvent, options?: RequestOptions): Promise<EcpsEvent> {
    return this.rpc.request(service, request, options);
  }

  serve(service: string, handler: RequestHandler): Promise<Subscription> {
    return this.rpc.serve(service, handler);
  }

  requestStream(service: string, request: EcpsEvent, options?: RequestOptions): AsyncIterable<EcpsEvent> {
    return this.rpc.requestStream(service, request, options);
  }

  serveStream(service: string, handler: StreamHandler): Promise<Subscription> {
    return this.rpc.serveStream(service, handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rpc.close();
    for (const sub of this.mine) this.broker.remove(sub);
    this.mine.clear();
  }
}
