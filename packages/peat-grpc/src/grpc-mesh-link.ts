// SPDX-License-Identifier: Apache-2.0
// A PeatLink over gRPC: every node may serve peat.v1.Mesh/Stream and dial the addresses it is given; each pair of
// nodes shares one bidirectional stream. A stream starts with a hello naming its sender; after it, messages are
// handed to the mesh transport, which runs the mutual handshake before any frame is accepted.
import * as grpc from '@grpc/grpc-js';
import { ByteReader, ByteWriter, PeatError } from '@ecps/peat';
import type { LinkHandler, PeatLink } from '@ecps/peat';
import { bindGrpcServer, channelOptionsFor, clientCredentials, createGrpcServer, maxMessageSizeFor } from '@ecps/transport-grpc';
import type { GrpcChannelSettings, GrpcClientTlsOptions, GrpcServerTlsOptions, StartedGrpcServer } from '@ecps/transport-grpc';
import { decodePeatFrame, encodePeatFrame } from './wire';

/** Full method path of the mesh stream. */
export const MESH_STREAM_PATH = '/peat.v1.Mesh/Stream';
const HELLO = 0xff;

const meshService: grpc.ServiceDefinition = {
  Stream: {
    path: MESH_STREAM_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (b: Uint8Array) => encodePeatFrame(b),
    requestDeserialize: (b: Buffer) => decodePeatFrame(b),
    responseSerialize: (b: Uint8Array) => encodePeatFrame(b),
    responseDeserialize: (b: Buffer) => decodePeatFrame(b),
    originalName: 'stream',
  },
};

export interface GrpcMeshLinkOptions extends GrpcChannelSettings {
  readonly nodeId: string;
  /** Serve the mesh stream on this address (port 0 picks one); absent = only dial out. */
  readonly listen?: { readonly host?: string; readonly port?: number; readonly tls?: GrpcServerTlsOptions };
  /** `host:port` of nodes to dial; a lost stream is dialled again after `reconnectMs`. */
  readonly peers?: readonly string[];
  readonly tls?: GrpcClientTlsOptions;
  /** Default 1,000 ms. */
  readonly reconnectMs?: number;
}

type Duplex = grpc.ClientDuplexStream<Uint8Array, Uint8Array> | grpc.ServerDuplexStream<Uint8Array, Uint8Array>;

function hello(nodeId: string): Uint8Array {
  return new ByteWriter().u8(HELLO).lp(nodeId).finish();
}

/** A PeatLink over gRPC streams. */
export class GrpcMeshLink implements PeatLink {
  readonly nodeId: string;
  readonly maxMessageBytes: number;
  private handler: LinkHandler | undefined;
  private server: StartedGrpcServer | undefined;
  private readonly streams = new Map<string, Duplex>();
  private readonly clients: grpc.Client[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = false;

  constructor(private readonly options: GrpcMeshLinkOptions) {
    this.nodeId = options.nodeId;
    // room for the protobuf tag and length
    this.maxMessageBytes = maxMessageSizeFor(options) - 16;
  }

  /** `host:port` the mesh stream is served on (after `start`). */
  get address(): string | undefined {
    return this.server?.address;
  }

  /** Peers with a live stream. */
  connected(): string[] {
    return [...this.streams.keys()];
  }

  async start(handler: LinkHandler): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.handler = handler;
    if (this.options.listen) {
      const server = createGrpcServer(this.options);
      server.addService(meshService, { Stream: (call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>) => this.attach(call) });
      this.server = await bindGrpcServer(server, this.options.listen);
    }
    for (const address of this.options.peers ?? []) this.dial(address);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.streams.values()) s.end();
    this.streams.clear();
    for (const c of this.clients.splice(0)) c.close();
    await this.server?.close(500);
    this.server = undefined;
  }

  private dial(address: string): void {
    if (!this.running) return;
    const { credentials, options } = clientCredentials(this.options.tls);
    const Client = grpc.makeGenericClientConstructor(meshService, 'Mesh');
    const client = new Client(address, credentials, { ...channelOptionsFor(this.options), ...options });
    this.clients.push(client);
    const call = (client as unknown as { Stream(): grpc.ClientDuplexStream<Uint8Array, Uint8Array> }).Stream();
    this.attach(call, () => {
      client.close();
      const i = this.clients.indexOf(client);
      if (i >= 0) this.clients.splice(i, 1);
      if (!this.running) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.dial(address);
      }, this.options.reconnectMs ?? 1_000);
      t.unref?.();
      this.timers.add(t);
    });
  }

  /** Runs one stream: hello both ways, then messages; a second stream for a node already connected is refused. */
  private attach(stream: Duplex, onEnd?: () => void): void {
    let peer: string | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (peer !== undefined && this.streams.get(peer) === stream) {
        this.streams.delete(peer);
        this.handler?.unreachable?.(peer);
      }
      onEnd?.();
    };
    stream.on('data', (data: Uint8Array) => {
      if (peer === undefined) {
        try {
          if (data[0] !== HELLO) throw new PeatError('DECODE_ERROR', 'stream did not start with a hello');
          const r = new ByteReader(data.subarray(1));
          const id = r.lpString('node id');
          r.end('hello');
          if (id === this.nodeId || this.streams.has(id)) throw new PeatError('ALREADY_EXISTS', `a stream with ${id} is already open`);
          peer = id;
          this.streams.set(id, stream);
          this.handler?.reachable?.(id);
        } catch {
          stream.end();
          end();
        }
        return;
      }
      this.handler?.message(peer, data);
    });
    stream.on('error', end);
    stream.on('end', () => {
      stream.end();
      end();
    });
    stream.on('close', end);
    stream.write(hello(this.nodeId));
  }

  async send(to: string, data: Uint8Array): Promise<void> {
    const s = this.streams.get(to);
    if (!s) throw new PeatError('NOT_CONNECTED', `no stream to ${to}`);
    if (data.length > this.maxMessageBytes) throw new PeatError('MESSAGE_TOO_LARGE', `message of ${data.length} bytes`);
    await new Promise<void>((resolve, reject) => s.write(data, (e: Error | null | undefined) => (e ? reject(new PeatError('UNAVAILABLE', 'stream write failed', { cause: e })) : resolve())));
  }

  async broadcast(data: Uint8Array): Promise<void> {
    await Promise.all([...this.streams.keys()].map((p) => this.send(p, data).catch(() => undefined)));
  }
}

/** A gRPC PeatLink; pass it to `meshTransport`. */
export function grpcMeshLink(options: GrpcMeshLinkOptions): GrpcMeshLink {
  return new GrpcMeshLink(options);
}
