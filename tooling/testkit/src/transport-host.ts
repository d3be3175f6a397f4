// SPDX-License-Identifier: Apache-2.0
// The child side of remote transports (see remote-transport.ts): hosts transports made by a factory and serves them
// over the IPC channel. Kept apart from the parent side so a child bundle needs nothing but @ecps/core.
import {
  AsyncQueue,
  TransportError,
  isEcpsError,
  type EcpsErrorCode,
  type EcpsEvent,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';

export interface WireError {
  code?: string;
  message: string;
}

export type ToChild =
  | { id: number; op: 'create'; options: Record<string, unknown> }
  | { id: number; op: 'connect' | 'close'; tid: number }
  | { id: number; op: 'publish'; tid: number; topic: string; event: EcpsEvent; options?: PublishOptions }
  | { id: number; op: 'subscribe'; tid: number; filter: string; options?: SubscribeOptions }
  | { id: number; op: 'unsubscribe'; sid: number }
  | { id: number; op: 'request' | 'requestStream'; tid: number; service: string; request: EcpsEvent; options: { timeoutMs?: number; qos?: 0 | 1 | 2 } }
  | { id: number; op: 'serve' | 'serveStream'; tid: number; service: string }
  | { op: 'abort'; target: number }
  | { op: 'handled'; call: number; event?: EcpsEvent; error?: WireError }
  | { op: 'streamItem'; call: number; event: EcpsEvent }
  | { op: 'streamEnd'; call: number; error?: WireError };

export type ToParent =
  | { ready: true }
  | { reply: number; value?: unknown; error?: WireError }
  | { sub: number; event: EcpsEvent; topic: string }
  | { serveCall: number; sid: number; request: EcpsEvent }
  | { streamCall: number; sid: number; request: EcpsEvent }
  | { streamAbort: number }
  | { streamEvent: number; event: EcpsEvent };

export const toWire = (error: unknown): WireError => ({
  ...(isEcpsError(error) ? { code: error.code } : {}),
  message: error instanceof Error ? error.message : String(error),
});

export const fromWire = (error: WireError): Error =>
  error.code ? new TransportError(error.code as EcpsErrorCode, error.message) : new Error(error.message);

/**
 * Child side: serves the transports `create` makes to the parent that started this process with
 * {@link startTransportHost}. Call it once, at the top level of the child's entry script.
 */
export function hostTransports(create: (options: Record<string, unknown>) => Transport | Promise<Transport>): void {
  const send = (message: ToParent) => process.send?.(message);
  const transports = new Map<number, Transport>();
  const subscriptions = new Map<number, Subscription>();
  const aborts = new Map<number, AbortController>();
  const calls = new Map<number, { resolve: (e: EcpsEvent) => void; reject: (e: unknown) => void }>();
  const feeds = new Map<number, AsyncQueue<EcpsEvent>>();
  let nextCall = 1;

  const transport = (tid: number) => {
    const t = transports.get(tid);
    if (!t) throw new Error(`no transport ${tid}`);
    return t;
  };

  const run = async (m: Extract<ToChild, { id: number }>): Promise<unknown> => {
    switch (m.op) {
      case 'create': {
        const t = await create(m.options);
        transports.set(m.id, t);
        return { tid: m.id, kind: t.kind, maxPayloadSize: t.maxPayloadSize };
      }
      case 'connect':
        return transport(m.tid).connect();
      case 'close':
        await transport(m.tid).close();
        transports.delete(m.tid);
        return undefined;
      case 'publish':
        return transport(m.tid).publish(m.topic, m.event, m.options);
      case 'subscribe': {
        const sub = await transport(m.tid).subscribe(m.filter, (event, topic) => void send({ sub: m.id, event, topic }), m.options);
        subscriptions.set(m.id, sub);
        return undefined;
      }
      case 'unsubscribe':
        await subscriptions.get(m.sid)?.unsubscribe();
        subscriptions.delete(m.sid);
        return undefined;
      case 'request': {
        const controller = new AbortController();
        aborts.set(m.id, controller);
        try {
          return await transport(m.tid).request(m.service, m.request, { ...m.options, signal: controller.signal });
        } finally {
          aborts.delete(m.id);
        }
      }
      case 'requestStream': {
        const controller = new AbortController();
        aborts.set(m.id, controller);
        try {
          for await (const event of transport(m.tid).requestStream(m.service, m.request, { ...m.options, signal: controller.signal })) {
            if (controller.signal.aborted) break;
            send({ streamEvent: m.id, event });
          }
          return undefined;
        } finally {
          aborts.delete(m.id);
        }
      }
      case 'serve': {
        const sub = await transport(m.tid).serve(m.service, (request) => {
          const call = nextCall++;
          return new Promise<EcpsEvent>((resolve, reject) => {
            calls.set(call, { resolve, reject });
            send({ serveCall: call, sid: m.id, request });
          });
        });
        subscriptions.set(m.id, sub);
        return undefined;
      }
      case 'serveStream': {
        const sub = await transport(m.tid).serveStream(m.service, (request, signal) => {
          const call = nextCall++;
          const feed = new AsyncQueue<EcpsEvent>();
          feeds.set(call, feed);
          signal.addEventListener('abort', () => {
            send({ streamAbort: call });
            feed.end();
          });
          send({ streamCall: call, sid: m.id, request });
          return feed;
        });
        subscriptions.set(m.id, sub);
        return undefined;
      }
    }
  };

  process.on('message', (raw) => {
    const m = raw as ToChild;
    if (m.op === 'abort') return aborts.get(m.target)?.abort();
    if (m.op === 'handled') {
      const call = calls.get(m.call);
      calls.delete(m.call);
      return m.error ? call?.reject(fromWire(m.error)) : call?.resolve(m.event!);
    }
    if (m.op === 'streamItem') return feeds.get(m.call)?.push(m.event);
    if (m.op === 'streamEnd') {
      const feed = feeds.get(m.call);
      feeds.delete(m.call);
      return m.error ? feed?.fail(fromWire(m.error)) : feed?.end();
    }
    run(m).then(
      (value) => send({ reply: m.id, value }),
      (error: unknown) => send({ reply: m.id, error: toWire(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready: true });
}

