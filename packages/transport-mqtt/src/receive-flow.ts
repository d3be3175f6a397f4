// SPDX-License-Identifier: Apache-2.0
// Flow control of the receive path: one bounded FIFO per subscription (its handler sees one event at a time), a read
// gate that stops taking packets from the broker while any queue is full, and QoS 1 PUBACKs sent only once every
// handler of the message has finished, in the order the messages arrived (MQTT 5 §4.6).
import type { EcpsEvent, EventHandler, Logger } from '@ecps/core';

/** One QoS 1 message waiting for its handlers before it is acknowledged. */
interface AckTicket {
  readonly messageId: number;
  /** Deliveries not yet handled. */
  remaining: number;
  /** The connection it arrived on: a PUBACK is only valid there. */
  readonly connection: number;
}

interface Delivery {
  readonly topic: string;
  readonly event: EcpsEvent;
  readonly ticket: AckTicket | undefined;
}

export interface ReceiveStats {
  /** Events waiting in subscription queues now. */
  queued: number;
  /** The longest any one subscription queue has been. */
  peakQueued: number;
  /** True while reading from the broker is stopped. */
  paused: boolean;
  /** How many times reading was stopped. */
  pauses: number;
  /** QoS 1 messages received and not yet acknowledged (handlers running or waiting). */
  acksPending: number;
}

/** A subscription's queue. Created by {@link ReceiveFlow.queue}. */
export class SubscriptionQueue {
  private readonly items: Delivery[] = [];
  /** Index of the next delivery in `items`. */
  private head = 0;
  private pumping = false;
  /** Reached the limit; counted by the flow until it drained to the low-water mark. */
  saturated = false;
  active = true;

  constructor(
    readonly filter: string,
    private readonly handler: EventHandler,
    private readonly flow: ReceiveFlow,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** @internal */
  push(delivery: Delivery): void {
    this.items.push(delivery);
    if (!this.pumping) this.pump();
  }

  /** Stops delivery. `acknowledge`: the dropped QoS 1 messages count as handled (an unsubscribe, not a close). */
  stop(acknowledge: boolean): void {
    if (!this.active) return;
    this.active = false;
    const dropped = this.items.splice(this.head);
    this.items.length = 0;
    this.head = 0;
    this.flow.drained(this, dropped, acknowledge);
  }

  /**
   * Runs handlers in order. Synchronous handlers are called in this turn, without a promise per event (measurable
   * at high rates); the first handler that returns a promise moves the rest of the queue to {@link pumpAsync}.
   */
  private pump(): void {
    this.pumping = true;
    while (this.active && this.head < this.items.length) {
      const delivery = this.take();
      let result: unknown;
      try {
        result = this.handler(delivery.event, delivery.topic);
      } catch (error) {
        this.flow.handlerFailed(this, delivery, error);
      }
      if (isPromiseLike(result)) {
        void this.pumpAsync(delivery, result);
        return;
      }
      this.flow.handled(this, delivery);
    }
    this.pumping = false;
  }

  private async pumpAsync(delivery: Delivery, pending: PromiseLike<unknown>): Promise<void> {
    try {
      await pending;
    } catch (error) {
      this.flow.handlerFailed(this, delivery, error);
    }
    this.flow.handled(this, delivery);
    this.pump();
  }

  /** The next delivery; the consumed prefix is dropped once it is half the array (amortised O(1), unlike shift()). */
  private take(): Delivery {
    const delivery = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Delivery;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return delivery;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

/** Tells mqtt.js to go on reading without sending the PUBACK itself (we send it when the handlers are done). */
export const DEFERRED_ACK = Object.freeze(new Error('PUBACK deferred until the handlers finished'));

export interface ReceiveFlowOptions {
  /** Events a subscription may have queued before reading stops (resumes at a quarter of it). */
  readonly limit: number;
  readonly logger: Logger;
  /** Sends a PUBACK on the current connection. */
  sendAck(messageId: number): void;
}

export class ReceiveFlow {
  private readonly acks: AckTicket[] = [];
  private readonly low: number;
  private saturated = 0;
  private held: (() => void) | undefined;
  private connection = 0;
  private closed = false;
  readonly stats: ReceiveStats = { queued: 0, peakQueued: 0, paused: false, pauses: 0, acksPending: 0 };

  constructor(private readonly options: ReceiveFlowOptions) {
    this.low = Math.floor(options.limit / 4);
  }

  queue(filter: string, handler: EventHandler): SubscriptionQueue {
    return new SubscriptionQueue(filter, handler, this);
  }

  /**
   * Hands one received message to `queues` and tells mqtt.js when it may read the next packet: `done()` now, or
   * once the full queues drained. QoS 1 messages get `done(DEFERRED_ACK)`: their PUBACK follows their handlers.
   */
  deliver(queues: Iterable<SubscriptionQueue>, topic: string, event: EcpsEvent, qos: number, messageId: number | undefined, done: (error?: Error) => void): void {
    let ticket: AckTicket | undefined;
    if (qos === 1 && messageId !== undefined) {
      // counted up front: a synchronous handler finishes inside push(), before the next queue is reached
      let remaining = 0;
      for (const queue of queues) if (queue.active) remaining++;
      ticket = { messageId, remaining, connection: this.connection };
      this.acks.push(ticket);
      this.stats.acksPending++;
      if (remaining === 0) this.flushAcks();
    }
    for (const queue of queues) {
      if (!queue.active) continue;
      this.stats.queued++;
      queue.push({ topic, event, ticket });
      const length = queue.length;
      if (length > this.stats.peakQueued) this.stats.peakQueued = length;
      if (length >= this.options.limit && !queue.saturated) {
        queue.saturated = true;
        this.saturated++;
      }
    }
    this.afterDelivery(done, ticket !== undefined);
  }

  /** A message that is not delivered at all (undecodable, too large, no subscriber left) is acknowledged as usual. */
  skip(done: (error?: Error) => void): void {
    this.afterDelivery(done, false);
  }

  /** A message that arrived while closing: never acknowledged, so a persistent session gets it again. */
  refuse(done: (error?: Error) => void): void {
    done(DEFERRED_ACK);
  }

  /** The connection is gone: PUBACKs still owed on it are not sent, and a held read belongs to the dead stream. */
  connectionLost(): void {
    this.connection++;
    if (this.held) {
      this.held = undefined;
      this.stats.paused = false;
    }
  }

  /** Stops for good: queues are emptied by their owners, nothing more is acknowledged. */
  close(): void {
    this.closed = true;
    this.held = undefined;
    this.acks.length = 0;
    this.stats.acksPending = 0;
  }

  /** @internal */
  handled(queue: SubscriptionQueue, delivery: Delivery): void {
    this.stats.queued--;
    if (delivery.ticket && --delivery.ticket.remaining === 0) this.flushAcks();
    if (queue.saturated && queue.length <= this.low) this.unsaturate(queue);
  }

  /** @internal */
  handlerFailed(queue: SubscriptionQueue, delivery: Delivery, error: unknown): void {
    // At-least-once means "handled", not "handled successfully": a PUBACK still follows, or the broker's in-flight
    // window would stay full; the failure goes to the logger.
    this.options.logger.warn('subscription handler failed', { filter: queue.filter, topic: delivery.topic, error: String(error) });
  }

  /** @internal */
  drained(queue: SubscriptionQueue, dropped: readonly Delivery[], acknowledge: boolean): void {
    this.stats.queued -= dropped.length;
    let flush = false;
    if (acknowledge) for (const d of dropped) if (d.ticket && --d.ticket.remaining === 0) flush = true;
    if (flush) this.flushAcks();
    if (queue.saturated) this.unsaturate(queue);
  }

  /** Lets mqtt.js read on (`deferred`: a QoS 1 message whose PUBACK we send), now or once the queues drained. */
  private afterDelivery(done: (error?: Error) => void, deferred: boolean): void {
    if (this.saturated === 0 || this.closed) return deferred ? done(DEFERRED_ACK) : done();
    // a closure only on this rare path, none per message
    const next = deferred ? () => done(DEFERRED_ACK) : () => done();
    // Stop reading: mqtt.js takes no further packet from the socket until `next` runs, so the kernel's receive
    // buffer fills and TCP pushes back to the broker.
    this.held = next;
    this.stats.paused = true;
    this.stats.pauses++;
  }

  private unsaturate(queue: SubscriptionQueue): void {
    queue.saturated = false;
    if (--this.saturated > 0 || !this.held) return;
    const next = this.held;
    this.held = undefined;
    this.stats.paused = false;
    next();
  }

  /** Sends the PUBACKs at the head of the line whose handlers are all done, in receipt order. */
  private flushAcks(): void {
    while (this.acks.length > 0 && this.acks[0]!.remaining === 0) {
      const ticket = this.acks.shift()!;
      this.stats.acksPending--;
      if (!this.closed && ticket.connection === this.connection) this.options.sendAck(ticket.messageId);
    }
  }
}
