// SPDX-License-Identifier: Apache-2.0
// The in-process medium that memory transports attach to: a topic-matching router with one ordered delivery
// queue per subscription.
import { TransportError, topicMatches, type EcpsEvent, type EventHandler, type QosLevel } from '@ecps/core';

export interface MemoryBusOptions {
  /** Events a subscriber may have queued before BEST_EFFORT events to it are dropped. Default 1024. */
  bestEffortQueueLimit?: number;
  /** Events a subscriber may have queued before a RELIABLE publish to it fails with `QUEUE_FULL`. Default 65536. */
  reliableQueueLimit?: number;
  /** Called when any subscriber's handler throws (besides its transport's logger); delivery continues. */
  onHandlerError?: (error: unknown, topic: string) => void;
}

export interface MemoryBusStats {
  /** BEST_EFFORT events dropped because a subscriber's queue was full. */
  dropped: number;
  delivered: number;
  /** Events whose handler threw. */
  handlerErrors: number;
}

/** Called with a handler's error, the topic and the subscription's filter. */
export type HandlerErrorReporter = (error: unknown, topic: string, filter: string) => void;

interface Delivery {
  topic: string;
  event: EcpsEvent;
}

/** One subscription's ordered queue, drained by a single pump so the handler sees one event at a time. */
class MemorySubscriber {
  readonly queue: Delivery[] = [];
  active = true;
  private pumping = false;

  constructor(
    readonly filter: string,
    readonly qos: QosLevel,
    private readonly handler: EventHandler,
    private readonly bus: MemoryBus,
    private readonly onError: HandlerErrorReporter | undefined,
  ) {}

  enqueue(delivery: Delivery): void {
    this.queue.push(delivery);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    // Deliver on a later tick so publish() never runs handlers synchronously.
    await Promise.resolve();
    while (this.active && this.queue.length > 0) {
      const { topic, event } = this.queue.shift()!;
      try {
        await this.handler(event, topic);
        this.bus.stats.delivered++;
      } catch (error) {
        this.bus.stats.handlerErrors++;
        this.onError?.(error, topic, this.filter);
        this.bus.reportHandlerError(error, topic);
      }
    }
    this.pumping = false;
  }
}

/**
 * An in-process message bus. Every {@link memoryTransport} attached to the same bus sees the others' events.
 * Subscriptions match with MQTT `+`/`#` rules; each has its own FIFO, so events from one publisher arrive in order.
 */
export class MemoryBus {
  readonly stats: MemoryBusStats = { dropped: 0, delivered: 0, handlerErrors: 0 };
  private readonly subscribers = new Set<MemorySubscriber>();
  private readonly bestEffortLimit: number;
  private readonly reliableLimit: number;

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.bestEffortLimit = options.bestEffortQueueLimit ?? 1024;
    this.reliableLimit = options.reliableQueueLimit ?? 65_536;
  }

  /** @internal used by memory transports */
  attach(filter: string, qos: QosLevel, handler: EventHandler, onError?: HandlerErrorReporter): { detach(): void } {
    const subscriber = new MemorySubscriber(filter, qos, handler, this, onError);
    this.subscribers.add(subscriber);
    return {
      detach: () => {
        subscriber.active = false;
        subscriber.queue.length = 0;
        this.subscribers.delete(subscriber);
      },
    };
  }

  /**
   * Routes an event to every matching subscription. The effective QoS per subscriber is the lower of the two.
   * Checks every reliable recipient's bound before enqueuing anywhere, so a `QUEUE_FULL` rejection delivers
   * the event to nobody (the caller can retry without creating duplicates).
   */
  route(topic: string, event: EcpsEvent, qos: QosLevel): void {
    const targets = [...this.subscribers].filter((s) => topicMatches(s.filter, topic));
    for (const s of targets) {
      if (Math.min(qos, s.qos) > 0 && s.queue.length >= this.reliableLimit) {
        throw new TransportError('QUEUE_FULL', `subscriber ${s.filter} has ${s.queue.length} undelivered events`, {
          details: { topic, limit: this.reliableLimit },
        });
      }
    }
    for (const s of targets) {
      if (Math.min(qos, s.qos) === 0 && s.queue.length >= this.bestEffortLimit) {
        this.stats.dropped++;
        continue;
      }
      s.enqueue({ topic, event });
    }
  }

  /** @internal */
  reportHandlerError(error: unknown, topic: string): void {
    this.options.onHandlerError?.(error, topic);
  }
}
