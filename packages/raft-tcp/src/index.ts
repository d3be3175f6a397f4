// SPDX-License-Identifier: Apache-2.0
// @ecps/raft-tcp: direct TCP (or mutual-TLS) streams between Raft members, and between KV clients and members.

export { tcpRaftNetwork } from './tcp-network';
export { serveKvTcp, tcpKvChannel } from './kv-tcp';

export type { TcpRaftNetwork, TcpRaftNetworkOptions } from './tcp-network';
export type { TcpKvServer, TcpKvServerOptions, TcpKvChannelOptions } from './kv-tcp';
export type { TcpTlsOptions } from './framing';
