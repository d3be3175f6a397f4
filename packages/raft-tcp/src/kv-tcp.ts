// SPDX-License-Identifier: Apache-2.0
// The key-value protocol of @ecps/raft on direct TCP (or mutual TLS) connections, as etcd clients talk to etcd: a
// client connects to members and writes length-prefixed `KvRequest` frames; the member answers `KvResponse` frames
// on the same connection (in any order: they carry the request id). No broker hop.
import { createServer as netServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { createServer as tlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { EcpsError, silentLogger } from '@ecps/core';
import type { Clock, Logger } from '@ecps/core';
import { kvEndpoint } from '@ecps/raft';
import type { KvChannel, KvOperation, KvStateMachine, NodeId, RaftNode } from '@ecps/raft';
import { assertAddress, certificateNames, dial, frame, readFrames, writeSoon } from './framing';
import type { TcpTlsOptions } from './framing';

export interface TcpKvServerOptions {
  readonly node: RaftNode;
  readonly store: KvStateMachine;
  /** Where to listen; port 0 picks a free one (see `address`). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Mutual TLS: a client is the name in its certificate (session owner, and what `authorize` is asked about). */
  readonly tls?: TcpTlsOptions;
  /** Who may do what; needs `tls` (without it clients are anonymous). */
  readonly authorize?: (client: string, op: KvOperation, key: string) => boolean;
  /** Largest request accepted. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  readonly timeoutMs?: number;
  readonly leaseTickMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface TcpKvServer {
  readonly address: { readonly host: string; readonly port: number };
  /** Stops listening and drops the connections. */
  close(): Promise<void>;
}

/**
 * Serves one member's key-value protocol on TCP. Without TLS every client is anonymous (owner '').
 * @throws EcpsError `CONFIG_INVALID` for `authorize` without `tls`; the listen error when the port is taken.
 */
export async function serveKvTcp(options: TcpKvServerOptions): Promise<TcpKvServer> {
  if (options.authorize && !options.tls) throw new EcpsError('CONFIG_INVALID', 'serveKvTcp with authorize needs tls (clients are anonymous otherwise)');
  const logger = options.logger ?? silentLogger;
  const maxBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
  const endpoint = kvEndpoint(options);
  const sockets = new Set<Socket>();
  const accept = (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const client = options.tls ? (certificateNames((socket as TLSSocket).getPeerCertificate())[0] ?? '') : '';
    readFrames(
      socket,
      maxBytes,
      () => logger.warn('closing a kv connection that sent an oversize frame', { node: options.node.id, client }),
      (payload) => {
        // answered concurrently; the request id pairs answers with requests
        void endpoint.handle(payload, client).then((response) => {
          if (!socket.destroyed) writeSoon(socket, frame(response));
        });
        return true;
      },
    );
  };
  const tls = options.tls;
  const server: Server = tls ? tlsServer({ key: tls.key, cert: tls.cert, ca: tls.ca as string[], requestCert: true, rejectUnauthorized: true }, accept) : netServer(accept);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const address = a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: options.listen.host, port: options.listen.port };
  return {
    address,
    async close() {
      endpoint.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TcpKvChannelOptions {
  /** Every member's KV address, `host:port`. */
  readonly members: Readonly<Record<NodeId, string>>;
  /** Mutual TLS; a member's certificate must name it. */
  readonly tls?: TcpTlsOptions;
  /** Largest answer accepted. Default 64 MiB (ranges can be large). */
  readonly maxMessageBytes?: number;
}

/**
 * A {@link KvChannel} for `KvClient` on direct connections to the members (opened on first use, again after a
 * drop). Pass it as `new KvClient({ channel, members: Object.keys(addresses) })`.
 * @throws EcpsError `INVALID_ARGUMENT` for an address that is not `host:port`.
 */
export function tcpKvChannel(options: TcpKvChannelOptions): KvChannel {
  for (const a of Object.values(options.members)) assertAddress(a);
  const maxBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const connections = new Map<NodeId, Promise<Socket>>();
  let deliver: (response: Uint8Array) => void = () => {};
  let closed = false;
  const connection = (member: NodeId): Promise<Socket> => {
    const existing = connections.get(member);
    if (existing) return existing;
    const address = options.members[member];
    if (address === undefined) return Promise.reject(new EcpsError('NOT_FOUND', `no address for member ${member}`));
    const socket = dial(address, options.tls, member);
    const opened = new Promise<Socket>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve(socket));
      socket.once('error', reject);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (connections.get(member) === opened) connections.delete(member);
    });
    readFrames(socket, maxBytes, () => undefined, (payload) => {
      deliver(payload);
      return true;
    });
    connections.set(member, opened);
    opened.catch(() => connections.delete(member));
    return opened;
  };
  return {
    async open(onResponse) {
      deliver = onResponse;
    },
    async send(member, request) {
      if (closed) throw new EcpsError('CLOSED', 'kv channel closed');
      const socket = await connection(member);
      writeSoon(socket, frame(request));
    },
    async close() {
      closed = true;
      for (const c of connections.values()) (await c.catch(() => undefined))?.destroy();
      connections.clear();
    },
  };
}
