// SPDX-License-Identifier: Apache-2.0
// An embedded MQTT 3.1.1 broker (aedes over TCP) for single-machine ECPS deployments, demos and tests.
import { createServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { TransportError, silentLogger, type Logger } from '@ecps/core';

export interface BrokerOptions {
  /** TCP port; 0 picks a free one. Default 1883. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1` (loopback only); `0.0.0.0` exposes the broker to the network. */
  host?: string;
  logger?: Logger;
}

export interface Broker {
  /** `mqtt://<host>:<port>` (with `127.0.0.1` when bound to every interface). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Clients connected now. */
  connectedClients(): number;
  /** Disconnects every client and stops listening. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts an aedes broker speaking MQTT 3.1.1 (use `protocolVersion: 4` in `@ecps/transport-mqtt`).
 * QoS 0, 1 and 2, wildcards, in-memory sessions; no persistence, retained messages kept in memory.
 * Throws `UNAVAILABLE` when the port cannot be bound (e.g. in use).
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger;
  const aedes = await Aedes.createBroker();
  aedes.on('clientError', (client, error) => logger.debug('broker client error', { client: client.id, error: error.message }));
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 1883, host, () => resolve());
    });
  } catch (cause) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw new TransportError('UNAVAILABLE', `cannot listen on ${host}:${options.port ?? 1883}`, { cause, details: { host, port: options.port } });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  logger.info('broker listening', { host, port });
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${urlHost}:${port}`,
    host,
    port,
    connectedClients: () => aedes.connectedClients,
    close: () =>
      (closing ??= (async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
      })()),
  };
}
