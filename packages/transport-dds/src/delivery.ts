// SPDX-License-Identifier: Apache-2.0
// One subscription's handler queue: events are handled one at a time, in arrival order; a handler that throws is
// reported and the next event is handled. The queue is bounded: past `limit` the readers feeding it stop taking
// (their samples wait in Cyclone, whose reliable protocol then holds the writers back) until it is down to a quarter.
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
    this.events.push(event);
    this.topics.push(topic);
    if (this.length > this.peak) this.peak = this.length;
    if (!this.running) void this.run();
  }

  /** Drops what is queued and handles nothing more. */
  stop(): void {
    this.stopped = true;
    this.events.length = this.topics.length = this.head = 0;
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.head < this.events.length && !this.stopped) {
      const event = this.events[this.head]!;
      const topic = this.topics[this.head]!;
      this.head++;
      try {
        const result = this.handler(event, topic);
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') await result;
      } catch (error) {
        this.logger.warn('dds: subscription handler failed', { filter: this.filter, topic, error: String(error) });
      }
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
