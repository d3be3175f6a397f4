// SPDX-License-Identifier: Apache-2.0
// How command bytes reach a TPM: a simulator over TCP (swtpm, the Microsoft/IBM simulators), a raw stream (what a
// character device carries), or a character device such as the kernel resource manager `/dev/tpmrm0`.
import { connect, type Socket } from 'node:net';
import { open, type FileHandle } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock, type TimerHandle } from '@ecps/core';
import { TpmError } from './errors';

/** Sends one command and resolves with its whole response. Callers never send two at once. */
export interface TpmTransport {
  /** `tcp`, `stream` or `device`. */
  readonly kind: string;
  transmit(command: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Largest response accepted (TPMs answer with at most a few KiB; a larger size means lost framing). */
export const MAX_RESPONSE_SIZE = 64 * 1024;
const HEADER_SIZE = 10;

export interface TransportOptions {
  /** Deadline of one command. Default 120 s (RSA key generation on a slow TPM takes tens of seconds). */
  timeoutMs?: number;
  clock?: Clock;
}

/** The size a response header declares. @throws TpmError `INTERNAL` when it cannot be a TPM response. */
function declaredSize(header: Uint8Array): number {
  const size = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(2);
  if (size < HEADER_SIZE || size > MAX_RESPONSE_SIZE) throw new TpmError('INTERNAL', `TPM response declares ${size} bytes`);
  return size;
}

/**
 * Accumulates stream data and hands out frames; one pending reader at a time. A stream error, an end or a bad
 * frame fails the pending read and every later one (the framing is lost: the caller opens a new connection).
 */
class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private waiter: { frame: (buffered: Buffer) => number | undefined; resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | undefined;

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.pump();
  }

  fail(error: Error): void {
    this.failure ??= error;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  /** Resolves with the next frame; `frame` returns its length once enough bytes are buffered. */
  read(frame: (buffered: Buffer) => number | undefined): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { frame, resolve, reject };
      this.pump();
    });
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    let length: number | undefined;
    try {
      length = w.frame(this.buffered);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (length === undefined || this.buffered.length < length) return;
    const out = new Uint8Array(this.buffered.subarray(0, length));
    this.buffered = this.buffered.subarray(length);
    this.waiter = undefined;
    w.resolve(out);
  }
}

function withTimeout<T>(promise: Promise<T>, options: TransportOptions, onTimeout: () => void): Promise<T> {
  const clock = options.clock ?? systemClock;
  const ms = options.timeoutMs ?? 120_000;
  let timer: TimerHandle | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      onTimeout();
      reject(new TpmError('TIMEOUT', `TPM did not answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clock.clearTimeout(timer!));
}

// Raw framing: the response is a TPM header (tag u16, size u32, rc u32) and the rest of `size` bytes.
const rawFrame = (b: Buffer) => (b.length < HEADER_SIZE ? undefined : declaredSize(b));

/**
 * A TPM behind a duplex byte stream with raw command/response framing (a character device, or swtpm's
 * `chardev --fd` on a socket pair). The stream is owned: `close()` destroys it.
 */
export function streamTransport(stream: Duplex, options: TransportOptions = {}): TpmTransport {
  const reader = new FrameReader();
  stream.on('data', (chunk: Buffer) => reader.push(chunk));
  stream.on('error', (e) => reader.fail(new TpmError('UNAVAILABLE', `TPM stream failed: ${e.message}`, { cause: e })));
  stream.on('close', () => reader.fail(new TpmError('CLOSED', 'TPM stream closed')));
  return {
    kind: 'stream',
    async transmit(command) {
      const response = reader.read(rawFrame);
      stream.write(command);
      return withTimeout(response, options, () => stream.destroy());
    },
    async close() {
      stream.destroy();
    },
  };
}

export interface TcpTransportOptions extends TransportOptions {
  host?: string;
  port: number;
  /** Locality of the commands (0..4). Default 0. */
  locality?: number;
}

// Microsoft TPM simulator framing (TPM_SEND_COMMAND, as swtpm and the IBM simulator speak it).
const TPM_SEND_COMMAND = 8;
const TPM_SESSION_END = 20;

/**
 * A TPM simulator's command port over TCP (swtpm `socket --server type=tcp`, the Microsoft and IBM simulators):
 * each command is framed as `TPM_SEND_COMMAND, locality, size, bytes`, each response as `size, bytes, 0`.
 * Connects on first use; after a network failure or a timeout the next command opens a new connection.
 */
export function tcpTransport(options: TcpTransportOptions): TpmTransport {
  const host = options.host ?? '127.0.0.1';
  type Connection = { socket: Socket; reader: FrameReader; ready: Promise<void> };
  let connection: Connection | undefined;
  // A connection whose framing may be lost is never used again: the next command opens a new one.
  const drop = (c: Connection) => {
    if (connection === c) connection = undefined;
    c.socket.destroy();
  };
  const open = () => {
    const socket = connect({ host, port: options.port });
    socket.setNoDelay(true);
    const reader = new FrameReader();
    const ready = new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (e) => reader.fail(new TpmError('UNAVAILABLE', `TPM at ${host}:${options.port}: ${e.message}`, { cause: e })));
    socket.on('close', () => {
      reader.fail(new TpmError('UNAVAILABLE', `TPM connection to ${host}:${options.port} closed`));
      if (connection?.socket === socket) connection = undefined;
    });
    connection = { socket, reader, ready };
    return connection;
  };
  // size (u32) ‖ response ‖ acknowledgement (u32, 0)
  const frame = (b: Buffer) => {
    if (b.length < 4) return undefined;
    const size = b.readUInt32BE(0);
    if (size < HEADER_SIZE || size > MAX_RESPONSE_SIZE) throw new TpmError('INTERNAL', `TPM response declares ${size} bytes`);
    return 4 + size + 4;
  };
  return {
    kind: 'tcp',
    async transmit(command) {
      const c = connection ?? open();
      const header = Buffer.alloc(9);
      header.writeUInt32BE(TPM_SEND_COMMAND, 0);
      header.writeUInt8(options.locality ?? 0, 4);
      header.writeUInt32BE(command.length, 5);
      const framed = withTimeout(
        c.ready.then(() => {
          const response = c.reader.read(frame);
          c.socket.write(Buffer.concat([header, command]));
          return response;
        }),
        options,
        () => drop(c),
      ).catch((cause: unknown) => {
        drop(c);
        if (cause instanceof TpmError) throw cause;
        throw new TpmError('UNAVAILABLE', `TPM at ${host}:${options.port} unreachable: ${(cause as Error).message}`, { cause });
      });
      const bytes = await framed;
      const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
      return bytes.slice(4, 4 + size);
    },
    async close() {
      const c = connection;
      connection = undefined;
      if (!c) return;
      await new Promise<void>((resolve) => {
        // The simulator closes its side on TPM_SESSION_END; do not wait for one that does not.
        const force = setTimeout(() => c.socket.destroy(), 1_000);
        c.socket.once('close', () => {
          clearTimeout(force);
          resolve();
        });
        if (!c.socket.writable) return c.socket.destroy();
        const end = Buffer.alloc(4);
        end.writeUInt32BE(TPM_SESSION_END, 0);
        c.socket.end(end);
      });
    },
  };
}

/**
 * A TPM character device: the kernel resource manager `/dev/tpmrm0` (default) or `/dev/tpm0`. Each write is one
 * command; each read returns one whole response. Opened on first use.
 */
export function deviceTransport(path = '/dev/tpmrm0', options: TransportOptions = {}): TpmTransport {
  let handle: Promise<FileHandle> | undefined;
  return {
    kind: 'device',
    async transmit(command) {
      handle ??= open(path, 'r+');
      const file = await handle.catch((cause: unknown) => {
        handle = undefined;
        throw new TpmError('UNAVAILABLE', `cannot open ${path}: ${(cause as Error).message}`, { cause });
      });
      const exchange = async () => {
        await file.write(command);
        const buffer = new Uint8Array(MAX_RESPONSE_SIZE);
        const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
        const response = buffer.slice(0, bytesRead);
        if (bytesRead < HEADER_SIZE || declaredSize(response) !== bytesRead) throw new TpmError('INTERNAL', `short TPM response from ${path}`);
        return response;
      };
      return withTimeout(exchange(), options, () => undefined);
    },
    async close() {
      const h = handle;
      handle = undefined;
      await (await h?.catch(() => undefined))?.close();
    },
  };
}
