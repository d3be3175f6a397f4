// SPDX-License-Identifier: Apache-2.0
// A fault-injecting Transport wrapper: drops, duplicates and reorders published events, deterministically from a
// seed, so loss-recovery paths (LTP selective repeat, MEP anti-entropy, ...) are tested over any real transport.
import { seededRandom, type EcpsEvent, type PublishOptions, type Transport } from '@ecps/core';

export interface FaultOptions {
  /** Seed of the fault sequence (default 1). */
  seed?: number;
  /** Probability that a matching event is silently dropped. */
  dropRate?: number;
  /** Probability that a matching event is delivered twice. */
  duplicateRate?: number;
  /** Probability that a matching event is held back and delivered after the next one (or after `holdMs`). */
  reorderRate?: number;
  /** Longest time a held-back event waits for a successor (default 5 ms). */
  holdMs?: number;
  /** Which events are subject to faults (default all), e.g. `(e) => e.type === 'ecps.ltp.chunk'`. */
  match?: (event: EcpsEvent, topic: string) => boolean;
}

export interface FaultCounters {
  passed: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export interface FaultyTransport extends Transport {
  readonly faults: Readonly<FaultCounters>;
  /** The events dropped so far, in order (for assertions). */
  readonly droppedEvents: readonly EcpsEvent[];
}

/** Wraps `inner`; publishes go through the fault model, everything else is passed straight through. */
export function faultyTransport(inner: Transport, options: FaultOptions = {}): FaultyTransport {
  const random = seededRandom(options.seed ?? 1);
  const faults: FaultCounters = { passed: 0, dropped: 0, duplicated: 0, reordered: 0 };
  const droppedEvents: EcpsEvent[] = [];
  let held: { topic: string; event: EcpsEvent; options?: PublishOptions; timer: NodeJS.Timeout } | undefined;

  const flushHeld = async () => {
    const h = held;
    if (!h) return;
    held = undefined;
    clearTimeout(h.timer);
    await inner.publish(h.topic, h.event, h.options);
  };

  return {
    get kind() {
      return inner.kind;
    },
    get maxPayloadSize() {
      return inner.maxPayloadSize;
    },
    faults,
    droppedEvents,
    connect: () => inner.connect(),
    async publish(topic, event, publishOptions) {
      if (options.match && !options.match(event, topic)) return inner.publish(topic, event, publishOptions);
      if (random.float() < (options.dropRate ?? 0)) {
        faults.dropped++;
        droppedEvents.push(event);
        return;
      }
      if (!held && random.float() < (options.reorderRate ?? 0)) {
        faults.reordered++;
        held = { topic, event, ...(publishOptions ? { options: publishOptions } : {}), timer: setTimeout(() => void flushHeld().catch(() => undefined), options.holdMs ?? 5) };
        return;
      }
      faults.passed++;
      await inner.publish(topic, event, publishOptions);
      if (random.float() < (options.duplicateRate ?? 0)) {
        faults.duplicated++;
        await inner.publish(topic, event, publishOptions);
      }
      await flushHeld();
    },
    subscribe: (filter, handler, subscribeOptions) => inner.subscribe(filter, handler, subscribeOptions),
    request: (service, request, requestOptions) => inner.request(service, request, requestOptions),
    serve: (service, handler) => inner.serve(service, handler),
    requestStream: (service, request, requestOptions) => inner.requestStream(service, request, requestOptions),
    serveStream: (service, handler) => inner.serveStream(service, handler),
    async close() {
      if (held) clearTimeout(held.timer);
      held = undefined;
      await inner.close();
    },
  };
}
