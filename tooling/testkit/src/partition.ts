// SPDX-License-Identifier: Apache-2.0
// A partitionable network for distributed tests: wrap each node's Transport, then split the nodes into groups or
// take single nodes down, and heal. An event is delivered only when its sender (CloudEvents source) and the
// receiving node can reach each other; requests and streams ride on the filtered publish/subscribe, so they are
// cut too and fail with the transport's TIMEOUT.
import {
  PubSubRpc,
  nodeIdFromSource,
  nodeSource,
  type EcpsEvent,
  type EventHandler,
  type PublishOptions,
  type RequestHandler,
  type RequestOptions,
  type StreamHandler,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';

export class NetworkPartition {
  private readonly groupOf = new Map<string, number>();
  private readonly oneWay = new Set<string>();
  private nextGroup = 1;
  /** Events dropped by the partition so far. */
  dropped = 0;

  /** Nodes in different groups cannot reach each other; nodes not listed form one more group. Replaces any cut. */
  split(...groups: readonly (readonly string[])[]): void {
    this.groupOf.clear();
    for (const group of groups) {
      const id = this.nextGroup++;
      for (const node of group) this.groupOf.set(node, id);
    }
  }

  /** Cuts each node off from every other node (a crash without losing state), keeping other cuts. */
  isolate(...nodes: readonly string[]): void {
    for (const node of nodes) this.groupOf.set(node, this.nextGroup++);
  }

  /** Drops what `from` sends to `to` only (an asymmetric fault, e.g. lost acknowledgements). */
  block(from: string, to: string): void {
    this.oneWay.add(`${from}\u0000${to}`);
  }

  /** Reconnects everything. */
  heal(): void {
    this.groupOf.clear();
    this.oneWay.clear();
  }

  canReach(from: string, to: string): boolean {
    if (from === to) return true;
    if (this.oneWay.has(`${from}\u0000${to}`)) return false;
    return (this.groupOf.get(from) ?? 0) === (this.groupOf.get(to) ?? 0);
  }

  /** Wraps the transport of `nodeId` so that its received events pass through this partition. */
  wrap(nodeId: string, inner: Transport): Transport {
    return new PartitionedTransport(this, nodeId, inner);
  }

  /** @internal */
  admits(event: EcpsEvent, receiver: string): boolean {
    const sender = nodeIdFromSource(event.source);
    if (sender === undefined || this.canReach(sender, receiver)) return true;
    this.dropped++;
    return false;
  }
}

class PartitionedTransport implements Transport {
  readonly kind: string;
  private readonly rpc: PubSubRpc;

  constructor(
    private readonly net: NetworkPartition,
    private readonly nodeId: string,
    private readonly inner: Transport,
  ) {
    this.kind = inner.kind;
    this.rpc = new PubSubRpc({ publish: (t, e, o) => this.publish(t, e, o), subscribe: (f, h, o) => this.subscribe(f, h, o) }, {
      source: nodeSource(nodeId),
    });
  }

  get maxPayloadSize(): number {
    return this.inner.maxPayloadSize;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  publish(topic: string, event: EcpsEvent, options?: PublishOptions): Promise<void> {
    return this.inner.publish(topic, event, options);
  }

  subscribe(filter: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    return this.inner.subscribe(filter, (event, topic) => (this.net.admits(event, this.nodeId) ? handler(event, topic) : undefined), options);
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
    this.rpc.close();
    await this.inner.close();
  }
}
