// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, status } from '@grpc/grpc-js';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { waitFor } from '@ecps/testkit';
import { MessageType, buildEnvelope, createClient } from '@ecps/sw4rm';
import type { ClientOf, EnvelopeInit } from '@ecps/sw4rm';
import { StreamItem } from '@ecps/sw4rm/proto';
import type { Envelope } from '@ecps/sw4rm/proto';
import { startRouter } from '../src/index';
import type { RunningRouter, StartRouterOptions, StreamSink } from '../src/index';

const dirs: string[] = [];
/** A store path in a fresh temporary directory (removed by {@link removeTmpDirs}). */
export const tmpDb = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw4rm-router-'));
  dirs.push(dir);
  return join(dir, 'router.sqlite3');
};
/** afterAll: removes every directory {@link tmpDb} made. */
export const removeTmpDirs = () => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
};

export interface Harness {
  running: RunningRouter;
  client: ClientOf<'router'>;
  streams: Consumer[];
  stop(): Promise<void>;
}

export async function harness(options: StartRouterOptions = {}): Promise<Harness> {
  const running = await startRouter({ dbPath: tmpDb(), port: 0, drainGraceMs: 0, ...options });
  const client = createClient('router', `127.0.0.1:${running.port}`);
  const streams: Consumer[] = [];
  return {
    running,
    client,
    streams,
    async stop() {
      for (const s of streams) s.cancel();
      client.close();
      await running.stop(0);
    },
  };
}

/** A test consumer collecting StreamItems. */
export class Consumer {
  readonly items: StreamItem[] = [];
  error: { code?: number; details?: string } | undefined;
  ended = false;
  readonly call: ClientReadableStream<StreamItem>;
  constructor(client: ClientOf<'router'>, readonly agentId: string, timeoutMs = 60_000) {
    this.call = client.streamIncoming({ agentId }, { timeoutMs });
    this.call.on('data', (item: StreamItem) => this.items.push(item));
    this.call.on('error', (err: { code?: number; details?: string }) => {
      this.error = err;
      this.ended = true;
    });
    this.call.on('end', () => (this.ended = true));
  }
  ids(): string[] {
    return this.items.map((i) => i.msg!.messageId);
  }
  async waitItems(n: number, what = `${n} items for ${this.agentId}`): Promise<void> {
    await waitFor(() => this.items.length >= n, what);
  }
  cancel(): void {
    if (!this.ended) this.call.cancel();
  }
  async waitEnd(): Promise<void> {
    await waitFor(() => this.ended, `end of ${this.agentId}'s stream`);
  }
}

/** Opens streams so the router knows the agents, then waits until it does. */
export async function connect(h: Harness, ...agents: string[]): Promise<Consumer[]> {
  const out = agents.map((a) => new Consumer(h.client, a));
  h.streams.push(...out);
  await waitFor(() => agents.every((a) => h.running.router.knownAgents().includes(a)), `agents ${agents.join(',')} known`);
  return out;
}

export const data = (producerId: string, extra: Partial<EnvelopeInit> = {}) =>
  buildEnvelope({ producerId, messageType: MessageType.DATA, payload: JSON.stringify({ hello: 'world' }), contentType: 'application/json', ...extra });

/** SendMessage with a hand-made request body (raw envelope bytes, e.g. with unknown fields). */
export function sendRaw(address: string, requestBytes: Uint8Array): Promise<{ accepted: boolean; reason: string }> {
  const c = new Client(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      '/sw4rm.router.RouterService/SendMessage',
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => {
        // SendMessageResponse: 1 accepted (varint), 2 reason (string)
        let accepted = false;
        let reason = '';
        let i = 0;
        while (i < b.length) {
          const tag = b[i++]!;
          if (tag === 8) accepted = b[i++] === 1;
          else if (tag === 18) {
            const len = b[i++]!;
            reason = b.subarray(i, i + len).toString('utf8');
            i += len;
          } else break;
        }
        return { accepted, reason };
      },
      requestBytes,
      { deadline: Date.now() + 5000 },
      (err, value) => {
        c.close();
        if (err) reject(err);
        else resolve(value!);
      },
    );
  });
}

/** An in-process sink for clock-driven tests. */
export class Sink implements StreamSink {
  items: { seq: bigint; env: Envelope }[] = [];
  failed: [number, string] | undefined;
  write(item: Buffer): boolean {
    const decoded = StreamItem.decode(item);
    this.items.push({ env: decoded.msg!, seq: decoded.seq });
    return true;
  }
  once(): unknown {
    return undefined;
  }
  fail(code: number, details: string): void {
    this.failed = [code, details];
  }
}

export { status };
