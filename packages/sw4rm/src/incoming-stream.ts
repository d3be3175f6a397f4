// SPDX-License-Identifier: Apache-2.0
// A resilient StreamIncoming consumer: reconnects with backoff (500 ms → 8000 ms ×2), acks each delivery after
// the handler succeeds (the router replays unacked rows on reconnect: that is the resume), stop() cancels the call.
import type { ClientReadableStream } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { Logger } from '@ecps/core';
import { silentLogger } from '@ecps/core';
import type { ClientOf } from './client';
import type { Envelope } from './gen/common';
import { DeliveryAckOutcome } from './gen/router';
import type { StreamItem } from './gen/router';

/** What the handler decides about one delivery. */
export type DeliveryVerdict = 'delivered' | 'permanent_failure' | 'retry';

/** Options of {@link IncomingStream}. */
export interface IncomingStreamOptions {
  router: ClientOf<'router'>;
  agentId: string;
  /** Handles one envelope; resolve a verdict (default `delivered`); throwing means `retry` (no delivery ack). */
  onEnvelope(envelope: Envelope, seq: bigint): Promise<DeliveryVerdict | void> | DeliveryVerdict | void;
  logger?: Logger;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Stream deadline per connection; default 1 day (the router never ends an idle stream itself). */
  streamTimeoutMs?: number;
}

/** Consumes an agent's stream until {@link IncomingStream.stop}. */
export class IncomingStream {
  private call: ClientReadableStream<StreamItem> | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff: number;
  private acksUnsupported = false;
  private readonly logger: Logger;
  /** Connections opened so far. */
  connections = 0;

  constructor(private readonly options: IncomingStreamOptions) {
    this.logger = options.logger ?? silentLogger;
    this.backoff = options.backoffInitialMs ?? 500;
  }

  /** Opens the stream (idempotent). */
  start(): this {
    if (!this.call && !this.stopped) this.connect();
    return this;
  }

  /** Cancels the call and every timer. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.call?.cancel();
    this.call = undefined;
  }

  private connect(): void {
    this.connections++;
    const call = this.options.router.streamIncoming({ agentId: this.options.agentId }, { timeoutMs: this.options.streamTimeoutMs ?? 86_400_000 });
    this.call = call;
    let chain = Promise.resolve();
    call.on('data', (item: StreamItem) => {
      this.backoff = this.options.backoffInitialMs ?? 500;
      // handle strictly in order, one at a time
      call.pause();
      chain = chain.then(() => this.handle(item)).finally(() => call.resume());
    });
    call.on('error', (err: { code?: number }) => {
      if (this.stopped || err.code === Status.CANCELLED) return;
      this.logger.warn('incoming stream broke; reconnecting', { code: err.code, backoffMs: this.backoff });
      this.reconnectLater();
    });
    call.on('end', () => {
      if (!this.stopped && this.call === call) this.reconnectLater();
    });
  }

  private reconnectLater(): void {
    this.call = undefined;
    if (this.timer || this.stopped) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.options.backoffMaxMs ?? 8000, this.backoff * 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private async handle(item: StreamItem): Promise<void> {
    if (!item.msg || this.stopped) return;
    let verdict: DeliveryVerdict;
    try {
      verdict = (await this.options.onEnvelope(item.msg, item.seq)) ?? 'delivered';
    } catch (err) {
      this.logger.warn('handler failed; leaving delivery unacked for redelivery', { seq: String(item.seq), error: String(err) });
      verdict = 'retry';
    }
    // seq 0: a router without delivery rows (the JS reference); after UNIMPLEMENTED stop acking (0.6-style server)
    if (verdict === 'retry' || item.seq <= 0n || this.acksUnsupported || this.stopped) return;
    try {
      await this.options.router.ackDelivery({
        agentId: this.options.agentId,
        seq: item.seq,
        messageId: item.msg.messageId,
        outcome: verdict === 'delivered' ? DeliveryAckOutcome.DELIVERY_ACK_OUTCOME_DELIVERED : DeliveryAckOutcome.DELIVERY_ACK_OUTCOME_PERMANENT_FAILURE,
      });
    } catch (err) {
      if ((err as { grpcCode?: number }).grpcCode === Status.UNIMPLEMENTED) this.acksUnsupported = true;
      else this.logger.warn('AckDelivery failed; the router will redeliver', { seq: String(item.seq), error: String(err) });
    }
  }
}
