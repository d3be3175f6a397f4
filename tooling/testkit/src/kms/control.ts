// SPDX-License-Identifier: Apache-2.0
// What a test can do to a KMS test server, the same for every service: add round-trip delay, throttle, stop
// answering, revoke permissions, disable keys; and the loopback HTTP(S) server they share.
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/** Operations the test credentials can be allowed or refused, named the same for every service. */
export type KmsPermission = 'create' | 'describe' | 'sign' | 'encrypt' | 'decrypt';

/** The controls every KMS test server offers. */
export interface KmsTestControl {
  /** Base URL (or `host:port` for gRPC) of the endpoint. */
  readonly url: string;
  /** Delay added before each answer (a realistic round trip; default 0). */
  latencyMs: number;
  /** Answers the next `n` requests with the service's throttling error (replacing any count left; 0 ends it). */
  throttleNext(n: number): void;
  /** Accepts requests and never answers them (a region gone silent), until {@link resumeAnswering}. */
  stopAnswering(): void;
  resumeAnswering(): void;
  /** Refuses (or allows again) an operation to the test credentials with the service's permission error. */
  revoke(permission: KmsPermission): void;
  grant(permission: KmsPermission): void;
  /** Disables (enables) the key the provider calls `id`, with the service's own notion of disabled. */
  disableKey(id: string): void;
  enableKey(id: string): void;
  /** True where the service disables key versions rather than keys (Vault): new encryptions still succeed. */
  readonly disablesVersionsOnly?: boolean;
  /** Requests received so far (answered or left hanging), per service operation name (e.g. `Encrypt`). */
  readonly counts: ReadonlyMap<string, number>;
  /** Stops the server and drops every connection. */
  close(): Promise<void>;
}

export type GateVerdict = 'ok' | 'throttled' | 'denied';

/** The fault state of one server; its `gate` runs before each operation. */
export class ServerFaults {
  latencyMs = 0;
  private throttles = 0;
  private silent = false;
  private resumeWaiters: (() => void)[] = [];
  private readonly revoked = new Set<KmsPermission>();
  readonly counts = new Map<string, number>();

  throttleNext(n: number): void {
    this.throttles = n;
  }

  stopAnswering(): void {
    this.silent = true;
  }

  resumeAnswering(): void {
    this.silent = false;
    for (const wake of this.resumeWaiters.splice(0)) wake();
  }

  revoke(permission: KmsPermission): void {
    this.revoked.add(permission);
  }

  grant(permission: KmsPermission): void {
    this.revoked.delete(permission);
  }

  /**
   * Waits while the server is silent (forever, if it never resumes), then the latency, then decides: throttled,
   * denied (`permission` revoked) or ok. Counts the operation on arrival, answered or not.
   */
  async gate(operation: string, permission: KmsPermission | undefined): Promise<GateVerdict> {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    while (this.silent) await new Promise<void>((resolve) => this.resumeWaiters.push(resolve));
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    if (this.throttles > 0) {
      this.throttles--;
      return 'throttled';
    }
    if (permission && this.revoked.has(permission)) return 'denied';
    return 'ok';
  }
}

/** What each server adds to the shared fault controls: where it is, how it disables keys, how it stops. */
export type ServiceControls = Omit<KmsTestControl, 'latencyMs' | 'throttleNext' | 'stopAnswering' | 'resumeAnswering' | 'revoke' | 'grant' | 'counts'>;

/** A server's handle: its own members plus the controls backed by `faults`. */
export function withFaultControls<T extends ServiceControls>(faults: ServerFaults, service: T): T & KmsTestControl {
  return {
    ...service,
    get latencyMs() {
      return faults.latencyMs;
    },
    set latencyMs(ms: number) {
      faults.latencyMs = ms;
    },
    throttleNext: (n: number) => faults.throttleNext(n),
    stopAnswering: () => faults.stopAnswering(),
    resumeAnswering: () => faults.resumeAnswering(),
    revoke: (p: KmsPermission) => faults.revoke(p),
    grant: (p: KmsPermission) => faults.grant(p),
    counts: faults.counts,
  };
}

export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface LoopbackHttpServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * An HTTP (or, with `tls`, HTTPS) server on 127.0.0.1 and an ephemeral port that reads each request body whole and
 * answers with `handle`. `close` destroys open connections, including requests left hanging on purpose.
 */
export async function startLoopbackHttp(
  handle: (request: IncomingMessage, body: Buffer) => Promise<HttpAnswer>,
  tls?: { cert: string; key: string },
): Promise<LoopbackHttpServer> {
  const sockets = new Set<Socket>();
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      handle(request, Buffer.concat(chunks)).then(
        (answer) => {
          if (response.destroyed) return;
          response.writeHead(answer.status, answer.headers ?? {});
          response.end(answer.body);
        },
        (error: unknown) => {
          if (response.destroyed) return;
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(String(error));
        },
      );
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, listener) : createHttpServer(listener);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
