// SPDX-License-Identifier: Apache-2.0
// What the TCP carriers share: length-prefixed frames (u32 big-endian length, then the protobuf bytes), dialing with
// optional mutual TLS that checks the peer's name, and the names a certificate gives.
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { EcpsError } from '@ecps/core';

/** Mutual TLS: every party presents a certificate naming it (common name or a DNS subject alternative name). */
export interface TcpTlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** The CA(s) that sign the certificates. */
  readonly ca: string | Buffer | readonly (string | Buffer)[];
}

const HEADER = 4;

/** The node id a certificate names: its common name, or one of its DNS alternative names equal to `expected`. */
export function certificateNames(cert: PeerCertificate | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) return [];
  const names = typeof cert.subject?.CN === 'string' ? [cert.subject.CN] : [];
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.push((m[1] as string).trim());
  }
  return names;
}

export function frame(payload: Uint8Array): Uint8Array {
  return frames([payload]);
}

/** Frames `payloads` back to back in one buffer (one allocation, one write). */
export function frames(payloads: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of payloads) size += HEADER + p.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of payloads) {
    out.writeUInt32BE(p.length, at);
    out.set(p, at + HEADER);
    at += HEADER + p.length;
  }
  return out;
}

/**
 * Writes `bytes` to `socket`, coalescing every write made in the same tick into one system call (the answers to a
 * burst of pipelined requests leave together).
 */
export function writeSoon(socket: Socket, bytes: Uint8Array): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  socket.write(bytes);
}

/** @throws EcpsError `INVALID_ARGUMENT` for an address that is not `host:port`. */
export function assertAddress(address: string): void {
  if (!/^[^:]+:\d+$/.test(address) && !/^\[.+\]:\d+$/.test(address)) throw new EcpsError('INVALID_ARGUMENT', `address '${address}' is not host:port`);
}

/** Connects to `address`; with TLS the server's certificate must name `expected` (whatever the host name). */
export function dial(address: string, tls: TcpTlsOptions | undefined, expected: string): Socket {
  const sep = address.lastIndexOf(':');
  const host = address.slice(0, sep).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(sep + 1));
  const socket: Socket = tls
    ? tlsConnect({
        host,
        port,
        key: tls.key,
        cert: tls.cert,
        ca: tls.ca as string[],
        checkServerIdentity: (_host, cert) => (certificateNames(cert).includes(expected) ? undefined : new Error(`certificate does not name ${expected}`)),
      })
    : netConnect({ host, port });
  socket.setNoDelay(true);
  return socket;
}

/**
 * Reads length-prefixed frames from `socket`, calling `onFrame` for each (false ends the connection). A frame
 * announced larger than `maxBytes` (plus slack for framing) ends the connection after `onOversize`.
 */
export function readFrames(socket: Socket, maxBytes: number, onOversize: () => void, onFrame: (payload: Uint8Array) => boolean): void {
  let buffer: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    let off = 0;
    while (buffer.length - off >= HEADER) {
      const len = buffer.readUInt32BE(off);
      if (len > maxBytes + 1024) {
        onOversize();
        socket.destroy();
        return;
      }
      if (buffer.length - off < HEADER + len) break;
      const payload = buffer.subarray(off + HEADER, off + HEADER + len);
      off += HEADER + len;
      if (!onFrame(payload)) {
        socket.destroy();
        return;
      }
    }
    buffer = off === buffer.length ? Buffer.alloc(0) : buffer.subarray(off);
  });
}
