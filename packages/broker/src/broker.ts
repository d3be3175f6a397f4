// SPDX-License-Identifier: Apache-2.0
// An embedded MQTT 3.1.1 broker (aedes over TCP) for single-machine ECPS deployments, demos and tests. Anything
// reachable from the network requires credentials.
import { createServer, isIP, type Socket } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { EcpsError, TransportError, silentLogger, type Logger } from '@ecps/core';
import { Credentials } from './credentials';

export interface BrokerOptions {
  /** TCP port; 0 picks a free one. Default 1883. */
  port?: number;
  /**
   * Interface to bind. Default `127.0.0.1` (loopback only). Anything else (`0.0.0.0`, `::`, an address, a host name)
   * exposes the broker to the network and requires `users` or `passwordFile`.
   */
  host?: string;
  /** Accept only these username/password pairs. */
  users?: Readonly<Record<string, string>>;
  /** Accept only the users of this Mosquitto password file (made with `mosquitto_passwd`; `$7$` and `$6$` hashes). */
  passwordFile?: string;
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

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Starts an aedes broker speaking MQTT 3.1.1 (use `protocolVersion: 4` in `@ecps/transport-mqtt`).
 * QoS 0, 1 and 2, wildcards, in-memory sessions; no persistence, retained messages kept in memory.
 * With `users` or `passwordFile`, a client with other credentials is refused (CONNACK 4, bad user name or password).
 * Throws `CONFIG_INVALID` before binding anything when `host` is not loopback and no credentials are given (or the
 * password file is unusable), and `UNAVAILABLE` when the port cannot be bound (e.g. in use).
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger;
  const credentials = options.passwordFile
    ? Credentials.fromPasswordFile(options.passwordFile)
    : options.users
      ? Credentials.fromUsers(options.users)
      : undefined;
  if (!credentials && !isLoopbackHost(host)) {
    throw new EcpsError('CONFIG_INVALID', `refusing to listen on ${host} without credentials: anyone on the network could publish and subscribe; give users or a password file`, {
      details: { host },
    });
  }
  const aedes = await Aedes.createBroker(
    credentials
      ? {
          authenticate: (client, username, password, done) => {
            credentials.verify(username, password).then(
              (ok) => {
                if (ok) return done(null, true);
                logger.info('broker refused a client', { client: client.id, username });
                done(Object.assign(new Error('bad user name or password'), { returnCode: 4 }) as AuthenticateError, false);
              },
              (error: unknown) => done(Object.assign(new Error(String(error)), { returnCode: 3 }) as AuthenticateError, false),
            );
          },
        }
      : {},
  );
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
