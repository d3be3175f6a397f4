// SPDX-License-Identifier: Apache-2.0
// Transports that live in another process, driven from the test process as if they were local: the conformance
// suite then runs across a real process boundary. The child hosts transports made by a factory
// (`hostTransports`, transport-host.ts); the parent gets proxies (`startTransportHost`). Handlers stay in the parent:
// events, served requests and served streams cross the IPC channel (Node's advanced serialization, so bytes stay bytes).
import { spawn, type ChildProcess } from 'node:child_process';
import {
  AsyncQueue,
  TransportError,
  type EcpsEvent,
  type EventHandler,
  type RequestHandler,
  type RequestOptions,
  type StreamHandler,
  type Subscription,
  type Transport,
} from '@ecps/core';
import { bundleScript } from './node-script';
import { fromWire, toWire, type ToChild, type ToParent } from './transport-host';

/** A request to the child that gets a reply, before it is given its id. */
type CallMessage = Extract<ToChild, { id: number }> extends infer M ? (M extends unknown ? Omit<M, 'id'> : never) : never;

export interface TransportHost {
  readonly pid: number;
  /** A transport made in the child by its factory from `options`, driven through this proxy. */
  create(options: Record<string, unknown>): Promise<Transport>;
  /** Ends the child (SIGKILL after 3 s); idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `entry` (TypeScript, bundled like {@link startNodeScript}) in a child process with an IPC channel; the
 * entry must call {@link hostTransports}. `env` is added to this process's environment for the child.
 */
export async function startTransportHost(entry: string, env: Record<string, string> = {}): Promise<TransportHost> {
  const file = await bundleScript(entry);
  const child: ChildProcess = spawn(process.execPath, [file], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    env: { ...process.env, ...env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextId = 1;
  const replies = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  const handlers = new Map<number, EventHandler>();
  const streamEvents = new Map<number, AsyncQueue<EcpsEvent>>();
  const servers = new Map<number, RequestHandler>();
  const streamServers = new Map<number, StreamHandler>();
  const serverAborts = new Map<number, AbortController>();
  const subscriptionQueues = new Map<number, Promise<void>>();
  const post = (m: ToChild) => child.send(m);
  const call = <T>(m: CallMessage, onId?: (id: number) => void): Promise<T> => {
    if (!child.connected) return Promise.reject(new TransportError('CLOSED', 'transport host is gone'));
    const id = nextId++;
    onId?.(id);
    return new Promise<T>((resolve, reject) => {
      replies.set(id, { resolve: resolve as (v: unknown) => void, reject });
      post({ ...m, id } as ToChild);
    });
  };

  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`transport host exited (${code}) before it was ready`)));
    child.on('message', (raw) => {
      const m = raw as ToParent;
      if ('ready' in m) return resolve();
      if ('reply' in m) {
        const r = replies.get(m.reply);
        replies.delete(m.reply);
        return m.error ? r?.reject(fromWire(m.error)) : r?.resolve(m.value);
      }
      if ('sub' in m) {
        // one event at a time per subscription, in arrival order, as the Transport contract says
        const handler = handlers.get(m.sub);
        if (!handler) return;
        const previous = subscriptionQueues.get(m.sub) ?? Promise.resolve();
        subscriptionQueues.set(m.sub, previous.then(() => handler(m.event, m.topic)).catch(() => undefined));
        return;
      }
      if ('streamEvent' in m) return streamEvents.get(m.streamEvent)?.push(m.event);
      if ('serveCall' in m) {
        const handler = servers.get(m.sid);
        void Promise.resolve()
          .then(() => handler!(m.request))
          .then(
            (event) => post({ op: 'handled', call: m.serveCall, event }),
            (error: unknown) => post({ op: 'handled', call: m.serveCall, error: toWire(error) }),
          );
        return;
      }
      if ('streamCall' in m) {
        const controller = new AbortController();
        serverAborts.set(m.streamCall, controller);
        void (async () => {
          try {
            for await (const event of streamServers.get(m.sid)!(m.request, controller.signal)) post({ op: 'streamItem', call: m.streamCall, event });
            post({ op: 'streamEnd', call: m.streamCall });
          } catch (error) {
            post({ op: 'streamEnd', call: m.streamCall, error: toWire(error) });
          } finally {
            serverAborts.delete(m.streamCall);
          }
        })();
        return;
      }
      if ('streamAbort' in m) serverAborts.get(m.streamAbort)?.abort();
    });
  });
  await ready;
  void exited.then(() => {
    for (const r of replies.values()) r.reject(new TransportError('CLOSED', 'transport host exited'));
    replies.clear();
  });

  const subscription = (filter: string, id: number, registry: Map<number, unknown>): Subscription => ({
    filter,
    unsubscribe: async () => {
      if (!registry.delete(id)) return;
      await call({ op: 'unsubscribe', sid: id });
    },
  });

  return {
    pid: child.pid ?? -1,
    async create(options) {
      const { tid, kind, maxPayloadSize } = await call<{ tid: number; kind: string; maxPayloadSize: number }>({ op: 'create', options });
      const proxy: Transport = {
        kind,
        maxPayloadSize,
        connect: () => call({ op: 'connect', tid }),
        close: () => call({ op: 'close', tid }),
        publish: (topic, event, o) => call({ op: 'publish', tid, topic, event, ...(o ? { options: o } : {}) }),
        async subscribe(filter, handler, o) {
          let sid = 0;
          await call({ op: 'subscribe', tid, filter, ...(o ? { options: o } : {}) }, (id) => handlers.set((sid = id), handler));
          return subscription(filter, sid, handlers);
        },
        async request(service, request, o: RequestOptions = {}) {
          let id = 0;
          const onAbort = () => post({ op: 'abort', target: id });
          o.signal?.addEventListener('abort', onAbort, { once: true });
          try {
            return await call<EcpsEvent>(
              { op: 'request', tid, service, request, options: { ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.qos !== undefined ? { qos: o.qos } : {}) } },
              (n) => (id = n),
            );
          } finally {
            o.signal?.removeEventListener('abort', onAbort);
          }
        },
        async serve(service, handler) {
          let sid = 0;
          await call({ op: 'serve', tid, service }, (id) => servers.set((sid = id), handler));
          return subscription(`${service}/request`, sid, servers);
        },
        async *requestStream(service, request, o: RequestOptions = {}) {
          const queue = new AsyncQueue<EcpsEvent>();
          let id = 0;
          const done = call(
            { op: 'requestStream', tid, service, request, options: { ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.qos !== undefined ? { qos: o.qos } : {}) } },
            (n) => streamEvents.set((id = n), queue),
          ).then(
            () => queue.end(),
            (error: unknown) => queue.fail(error),
          );
          let finished = false;
          try {
            yield* queue;
            finished = true;
          } finally {
            if (!finished) post({ op: 'abort', target: id });
            streamEvents.delete(id);
            await done;
          }
        },
        async serveStream(service, handler) {
          let sid = 0;
          await call({ op: 'serveStream', tid, service }, (id) => streamServers.set((sid = id), handler));
          return subscription(`${service}/request`, sid, streamServers);
        },
      };
      return proxy;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const kill = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 3_000);
      if (child.connected) child.disconnect();
      await exited;
      clearTimeout(kill);
    },
  };
}
