// SPDX-License-Identifier: Apache-2.0
import { ValidationError } from './errors';
import { cryptoRandom, type RandomSource } from './random';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b];
  return out;
}

/** Bytes of an even-length hex string; throws `INVALID_ARGUMENT` on anything else. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new ValidationError('INVALID_ARGUMENT', `not a hex string: ${JSON.stringify(hex.slice(0, 40))}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A random (v4) UUID, lowercase, 36 characters. */
export function uuidv4(random: RandomSource = cryptoRandom): string {
  const b = random.bytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Checks a node id (`[A-Za-z0-9._-]{1,64}`, spec §9); throws `INVALID_ARGUMENT` otherwise. */
export function assertNodeId(id: string): string {
  if (!NODE_ID_RE.test(id)) {
    throw new ValidationError('INVALID_ARGUMENT', `invalid node id ${JSON.stringify(id)}: expected [A-Za-z0-9._-]{1,64}`);
  }
  return id;
}

/** The CloudEvents `source` of a node: `urn:ecps:<node-id>`. */
export function nodeSource(nodeId: string): string {
  return `urn:ecps:${assertNodeId(nodeId)}`;
}

/** The node id inside a `urn:ecps:<node-id>` source, or undefined for any other source. */
export function nodeIdFromSource(source: string): string | undefined {
  if (!source.startsWith('urn:ecps:')) return undefined;
  const id = source.slice('urn:ecps:'.length);
  return NODE_ID_RE.test(id) ? id : undefined;
}
