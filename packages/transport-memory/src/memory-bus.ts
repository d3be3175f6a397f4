// SPDX-License-Identifier: Apache-2.0
// The in-process medium that memory transports attach to: a topic router (exact map, wildcard trie, route cache)
// with one ordered delivery queue per subscription.
import { TransportError, type EcpsEvent, type EventHandler, type QosLevel } from '@ecps/core';
import { TopicRouter } from './topic-router';

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

const SETTLED: Promise<void> = Promise.resolve();

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null | undefined)?.then === 'function';

/**
 * One subscription's ordered queue, drained by one microtask at a time so the handler sees one event at a time: a
 * handler that returns synchronously gets the next event in the same drain, a promise is awaited before the next.
 */
class MemorySubscriber {
  active = true;
  /** Waiting deliveries are `items[head..]`: taking one moves `head` instead of shifting the array. */
  private items: (Delivery | undefined)[] = [];
  private head = 0;
  private draining = false;

  constructor(
    readonly filter: string,
    readonly qos: QosLevel,
    private readonly handler: EventHandler,
    private readonly bus: MemoryBus,
    private readonly onError: HandlerErrorReporter | undefined,
  ) {}

  /** Deliveries waiting (not counting the one a handler is working on). */
  get queued(): number {
    return this.items.length - this.head;
  }

  enqueue(delivery: Delivery): void {
    if (!this.active) return;
    this.items.push(delivery);
    if (!this.draining) {
      this.draining = true;
      // a later tick, so publish() never runs handlers synchronously (a promise job: queueMicrotask costs an
      // async_hooks resource per call)
      void SETTLED.then(this.drain);
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  private take(): Delivery {
    const delivery = this.items[this.head]!;
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return delivery;
  }

  private readonly drain = (): void => {
    while (this.active && this.queued > 0) {
      const { topic, event } = this.take();
      let result: unknown;
      try {
        result = this.handler(event, topic);
      } catch (error) {
        this.failed(error, topic);
        continue;
      }
      if (isThenable(result)) {
        // still draining: the next event waits for this one
        result.then(
          () => {
            this.bus.stats.delivered++;
            this.drain();
          },
          (error: unknown) => {
            this.failed(error, topic);
            this.drain();
          },
        );
        return;
      }
      this.bus.stats.delivered++;
    }
    this.draining = false;
  };

  private failed(error: unknown, topic: string): void {
    this.bus.stats.handlerErrors++;
    this.onError?.(error, topic, this.filter);
    this.bus.reportHandlerError(error, topic);
  }
}

/**
 * An in-process message bus. Every {@link memoryTransport} attached to the same bus sees the others' events.
 * Subscriptions match with MQTT `+`/`#` rules; each has its own FIFO, so events from one publisher arrive in order.
 */
export class MemoryBus {
  readonly stats: MemoryBusStats = { dropped: 0, delivered: 0, handlerErrors: 0 };
  private readonly router = new TopicRouter<MemorySubscriber>();
  private readonly bestEffortLimit: number;
  private readonly reliableLimit: number;

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.bestEffortLimit = options.bestEffortQueueLimit ?? 1024;
    this.reliableLimit = options.reliableQueueLimit ?? 65_536;
  }

  /** @internal used by memory transports */
  attach(filter: string, qos: QosLevel, handler: EventHandler, onError?: HandlerErrorReporter): { detach(): void } {
    const subscriber = new MemorySubscriber(filter, qos, handler, this, onError);
    this.router.add(filter, subscriber);
    return {
      detach: () => {
        subscriber.active = false;
        subscriber.clear();
        this.router.remove(filter, subscriber);
      },
    };
  }

  /**
   * Routes an event to every matching subscription. The effective QoS per subscriber is the lower of the two.
   * Checks every reliable recipient's bound before enqueuing anywhere, so a `QUEUE_FULL` rejection delivers
   * the event to nobody (the caller can retry without creating duplicates).
   */
  route(topic: string, event: EcpsEvent, qos: QosLevel): void {
    const targets = this.router.match(topic);
    for (const s of targets) {
      if (Math.min(qos, s.qos) > 0 && s.queued >= this.reliableLimit) {
        throw new TransportError('QUEUE_FULL', `subscriber ${s.filter} has ${s.queued} undelivered events`, {
          details: { topic, limit: this.reliableLimit },
        });
      }
    }
    for (const s of targets) {
      if (Math.min(qos, s.qos) === 0 && s.queued >= this.bestEffortLimit) {
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
