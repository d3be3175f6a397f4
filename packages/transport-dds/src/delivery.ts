// SPDX-License-Identifier: Apache-2.0
// One subscription's handler queue: events are handled one at a time, in arrival order; a handler that throws is
// reported and the next event is handled. An event that finds nothing waiting goes to the handler at once, and is
// queued behind only while an asynchronous handler is still busy. The queue is bounded: past `limit` the readers
// feeding it stop taking (their samples wait in Cyclone, whose reliable protocol then holds the writers back) until
// it is down to a quarter.
import type { EcpsEvent, EventHandler, Logger } from '@ecps/core';

export class Delivery {
  private readonly events: EcpsEvent[] = [];
  private readonly topics: string[] = [];
  private head = 0;
  private running = false;
  /** Most events ever waiting at once. */
  peak = 0;
  private stopped = false;
  /** Called when the queue has drained far enough for paused readers to go on. */
  onRoom: (() => void) | undefined;

  constructor(
    private readonly handler: EventHandler,
    private readonly limit: number,
    private readonly logger: Logger,
    private readonly filter: string,
  ) {}

  get length(): number {
    return this.events.length - this.head;
  }

  /** How many more events the queue takes before its readers must stop. */
  get room(): number {
    return this.limit - this.length;
  }

  push(event: EcpsEvent, topic: string): void {
    if (this.stopped) return;
    if (this.running || this.head < this.events.length) {
      this.events.push(event);
      this.topics.push(topic);
      if (this.length > this.peak) this.peak = this.length;
      if (!this.running) void this.run(undefined);
      return;
    }
    if (this.peak === 0) this.peak = 1;
    this.running = true; // events pushed from inside the handler wait their turn
    const pending = this.handle(event, topic);
    if (pending !== undefined || this.head < this.events.length) void this.run(pending);
    else this.running = false;
  }

  /** Drops what is queued and handles nothing more. */
  stop(): void {
    this.stopped = true;
    this.events.length = this.topics.length = this.head = 0;
  }

  /** Calls the handler; returns its promise (which never rejects: failures are reported) when it is asynchronous. */
  private handle(event: EcpsEvent, topic: string): Promise<void> | undefined {
    try {
      const result = this.handler(event, topic);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        return (result as Promise<void>).then(undefined, (error: unknown) => this.failed(topic, error));
      }
    } catch (error) {
      this.failed(topic, error);
    }
    return undefined;
  }

  private failed(topic: string, error: unknown): void {
    this.logger.warn('dds: subscription handler failed', { filter: this.filter, topic, error: String(error) });
  }

  /** Handles what is queued, one at a time, after `pending` (the handler still busy with the event before them). */
  private async run(pending: Promise<void> | undefined): Promise<void> {
    this.running = true;
    if (pending !== undefined) await pending;
    while (this.head < this.events.length && !this.stopped) {
      const event = this.events[this.head]!;
      const topic = this.topics[this.head]!;
      this.head++;
      const busy = this.handle(event, topic);
      if (busy !== undefined) await busy;
      if (this.head >= 1024 && this.head * 2 >= this.events.length) this.compact();
      if (this.onRoom && this.length <= this.limit >> 2) this.onRoom();
    }
    if (this.head === this.events.length) this.events.length = this.topics.length = this.head = 0;
    this.running = false;
  }

  private compact(): void {
    this.events.splice(0, this.head);
    this.topics.splice(0, this.head);
    this.head = 0;
  }
}
