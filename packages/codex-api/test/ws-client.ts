// SPDX-License-Identifier: Apache-2.0
// A WebSocket test client over a real socket: records every text message and how the connection closed.
import WebSocket from 'ws';
import { eventually, type Json } from './harness';

export type WsClient = ReturnType<typeof wsClient>;

/** Connects to `url` (ws://…); `next(pred)` waits for the first unseen message matching `pred`. */
export function wsClient(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, { headers });
  const messages: Json[] = [];
  let read = 0;
  socket.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(data.toString()));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    socket,
    messages,
    closed,
    opened: new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    }),
    async next(pred: (m: Json) => boolean = () => true): Promise<Json> {
      return eventually(() => {
        for (; read < messages.length; read++) {
          if (pred(messages[read])) return messages[read++];
        }
        return undefined;
      });
    },
  };
}

/** The HTTP status an upgrade to `url` was refused with. */
export function refusedWith(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    // The server must close the refused connection itself (a leaked upgrade socket would keep the server from closing).
    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      res.socket.once('close', () => resolve(res.statusCode ?? 0));
    });
    socket.on('open', () => reject(new Error('upgrade accepted')));
    socket.on('error', () => undefined);
  });
}
