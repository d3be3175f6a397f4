// SPDX-License-Identifier: Apache-2.0
// A loopback TCP proxy that can silently stop forwarding on the connections it has (a half-open link: no FIN,
// no RST, like a NAT entry that expired or a cable pulled mid-path), while new connections pass again.
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** Connections currently proxied. */
  readonly connections: number;
  /** Stops forwarding on every current connection without closing it; later connections are forwarded normally. */
  blackholeExisting(): void;
  /** Closes every connection and the listener. */
  close(): Promise<void>;
}

/** Starts a proxy from an ephemeral loopback port to `127.0.0.1:targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; silent: boolean }>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, silent: false };
    pairs.add(pair);
    client.on('data', (chunk) => void (pair.silent || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (pair.silent || client.write(chunk)));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get connections() {
      return pairs.size;
    },
    blackholeExisting() {
      for (const pair of pairs) pair.silent = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
