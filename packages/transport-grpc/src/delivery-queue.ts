// SPDX-License-Identifier: Apache-2.0
// Per-subscription ordered delivery: events of one subscription reach its handler one at a time, in arrival order,
// and a throwing handler does not stop the next event.
import type { EcpsEvent, EventHandler } from '@ecps/core';

export class DeliveryQueue {
  private readonly queue: Array<{ event: EcpsEvent; topic: string }> = [];
  private active = true;
  private pumping = false;

  constructor(
    private readonly handler: EventHandler,
    private readonly onHandlerError: (error: unknown, topic: string) => void,
    /** Called with +1 when an event is queued and -1 when it has been handled (for flow control). */
    private readonly onBacklog: (delta: number) => void,
  ) {}

  enqueue(event: EcpsEvent, topic: string): void {
    if (!this.active) return;
    this.queue.push({ event, topic });
    this.onBacklog(1);
    if (!this.pumping) void this.pump();
  }

  stop(): void {
    this.active = false;
    this.onBacklog(-this.queue.length);
    this.queue.length = 0;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.active && this.queue.length > 0) {
      const { event, topic } = this.queue.shift()!;
      try {
        await this.handler(event, topic);
      } catch (error) {
        this.onHandlerError(error, topic);
      }
      this.onBacklog(-1);
    }
    this.pumping = false;
  }
}
