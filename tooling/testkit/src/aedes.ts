// SPDX-License-Identifier: Apache-2.0
// Launches an aedes broker (MQTT 3.1.1) in this process on an ephemeral loopback port.
import { createServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';

export interface AedesHandle {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Closes every client connection and the broker. Idempotent. */
  stop(): Promise<void>;
}

/** Starts aedes on 127.0.0.1 with port 0 (the OS picks a free port). */
export async function startAedes(): Promise<AedesHandle> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let stopped: Promise<void> | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: () =>
      (stopped ??= (async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
      })()),
  };
}
