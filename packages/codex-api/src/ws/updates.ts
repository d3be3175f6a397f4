// SPDX-License-Identifier: Apache-2.0
// /ws/updates: a snapshot, then every registry event in `seq` order, heartbeats, and no unbounded buffering.
import type { WebSocket } from 'ws';
import type { CodexEvent, Registry } from '@ecps/codex-registry';
import type { Clock, TimerHandle } from '@ecps/core';

export interface UpdateMessage {
  type: string;
  seq: number;
  ts: string;
  data?: unknown;
}

/** Close codes of the WebSocket channels. */
export const WS_CLOSE = { goingAway: 1001, tryAgainLater: 1013, unauthenticated: 4401, forbidden: 4403, tooManyConnections: 4429 } as const;

interface Client {
  socket: WebSocket;
  principal: string;
}

/**
 * Streams the registry's events to connected clients. One `seq` counter for the process: every message (snapshot,
 * event, heartbeat) takes the next number, so a client seeing a gap knows it missed something. A client whose send
 * buffer passes `maxBufferedBytes` is closed with 1013 instead of buffering without bound.
 */
export class UpdatesHub {
  private seq = 0;
  private readonly clients = new Set<Client>();
  private readonly unsubscribe: () => void;
  private heartbeat: TimerHandle | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly options: { heartbeatSec: number; maxBufferedBytes: number; maxConnectionsPerPrincipal: number; clock: Clock },
  ) {
    this.unsubscribe = registry.events.subscribe((event) => this.onEvent(event));
    this.scheduleHeartbeat();
  }

  private scheduleHeartbeat(): void {
    this.heartbeat = this.options.clock.setTimeout(() => {
      this.broadcast({ type: 'heartbeat' });
      this.scheduleHeartbeat();
    }, this.options.heartbeatSec * 1000);
  }

  /** How many sockets the principal has open. */
  connections(principal: string): number {
    let n = 0;
    for (const c of this.clients) if (c.principal === principal) n++;
    return n;
  }

  /** Registers an accepted socket and sends it the snapshot. */
  async add(socket: WebSocket, principal: string): Promise<void> {
    const client = { socket, principal };
    this.clients.add(client);
    socket.on('close', () => this.clients.delete(client));
    socket.on('message', (raw, isBinary) => {
      if (isBinary) return;
      try {
        if ((JSON.parse(raw.toString()) as { type?: unknown }).type === 'ping') this.send(client, { type: 'pong', seq: ++this.seq, ts: this.now() });
      } catch {
        // anything else is ignored
      }
    });
    const { bots } = await this.registry.bots.list({ limit: 100_000 });
    this.send(client, { type: 'snapshot', seq: ++this.seq, ts: this.now(), data: { bots: bots.map((b) => ({ id: b.id, name: b.name, role: b.role, status: b.status })) } });
  }

  /** Tells every client the server is going away and closes them (1001). */
  close(): void {
    this.broadcast({ type: 'system.shutdown', data: {} });
    this.unsubscribe();
    if (this.heartbeat !== null) this.options.clock.clearTimeout(this.heartbeat);
    this.heartbeat = null;
    for (const c of this.clients) c.socket.close(WS_CLOSE.goingAway, 'server shutting down');
    this.clients.clear();
  }

  private onEvent(event: CodexEvent): void {
    if (event.type === 'system.shutdown') return;
    this.broadcast({ type: event.type, data: event.data });
  }

  private broadcast(message: { type: string; data?: unknown }): void {
    const full: UpdateMessage = { type: message.type, seq: ++this.seq, ts: this.now(), ...(message.data === undefined ? {} : { data: message.data }) };
    const text = JSON.stringify(full);
    for (const client of [...this.clients]) this.send(client, text);
  }

  private send(client: Client, message: UpdateMessage | string): void {
    const { socket } = client;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.clients.delete(client);
      socket.close(WS_CLOSE.tryAgainLater, 'client too slow');
      // A client that does not read will not answer the close either: drop it after a grace period.
      const timer = setTimeout(() => socket.terminate(), 5000);
      socket.once('close', () => clearTimeout(timer));
      return;
    }
    socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  private now(): string {
    return new Date(this.options.clock.now()).toISOString();
  }
}
