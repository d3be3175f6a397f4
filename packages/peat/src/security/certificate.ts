// SPDX-License-Identifier: Apache-2.0
// Membership certificates (spec §8.3): who belongs to a mesh, at which tier, with which permission bits, signed
// by a trusted issuer: the self-signed root, a configured authority key, or a holder of a valid ENROLL
// certificate issued by one of those (one level of delegation, never more).
import type { Clock } from '@ecps/core';
import { systemClock, toHex } from '@ecps/core';
import { ByteReader, ByteWriter, bytesEqual, decodeUtf8, encodeUtf8 } from '../bytes';
import { PeatError } from '../errors';
import { deviceIdFromPublicKey, verifyEd25519 } from './ed25519';
import type { NodeIdentity } from './identity';

export const Permission = { RELAY: 0x01, EMERGENCY: 0x02, ENROLL: 0x04, ADMIN: 0x80, STANDARD: 0x03, AUTHORITY: 0x87 } as const;

export const Tier = { Enterprise: 0, Regional: 1, Tactical: 2, Edge: 3 } as const;
export type TierValue = (typeof Tier)[keyof typeof Tier];

export interface MeshCertificate {
  readonly subjectPublicKey: Uint8Array;
  readonly meshId: string;
  readonly nodeId: string;
  readonly tier: TierValue;
  readonly permissions: number;
  readonly issuedAtMs: number;
  /** 0 = never expires. */
  readonly expiresAtMs: number;
  readonly issuerPublicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** The smallest encoded certificate (empty mesh and node ids). */
export const MIN_CERTIFICATE_BYTES = 148;

function shortField(name: string, value: string): Uint8Array {
  const b = encodeUtf8(value);
  if (b.length > 255) throw new PeatError('INVALID_ARGUMENT', `certificate ${name} is over 255 bytes`);
  return b;
}

/** `subject ‖ u8 len ‖ mesh_id ‖ u8 len ‖ node_id ‖ tier ‖ permissions ‖ u64 LE issued ‖ u64 LE expires ‖ issuer`. */
export function certificateSigningBytes(c: Omit<MeshCertificate, 'signature'>): Uint8Array {
  const mesh = shortField('mesh id', c.meshId);
  const node = shortField('node id', c.nodeId);
  const out = new Uint8Array(32 + 1 + mesh.length + 1 + node.length + 1 + 1 + 8 + 8 + 32);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(c.subjectPublicKey, at);
  at += 32;
  out[at++] = mesh.length;
  out.set(mesh, at);
  at += mesh.length;
  out[at++] = node.length;
  out.set(node, at);
  at += node.length;
  out[at++] = c.tier;
  out[at++] = c.permissions;
  view.setBigUint64(at, BigInt(c.issuedAtMs), true);
  at += 8;
  view.setBigUint64(at, BigInt(c.expiresAtMs), true);
  at += 8;
  out.set(c.issuerPublicKey, at);
  return out;
}

export function encodeCertificate(c: MeshCertificate): Uint8Array {
  return new ByteWriter().bytes(certificateSigningBytes(c)).bytes(c.signature).finish();
}

/** @throws PeatError `DECODE_ERROR` (too short, truncated, trailing bytes, bad tier). */
export function decodeCertificate(bytes: Uint8Array): MeshCertificate {
  if (bytes.length < MIN_CERTIFICATE_BYTES) throw new PeatError('DECODE_ERROR', `a certificate is at least ${MIN_CERTIFICATE_BYTES} bytes, got ${bytes.length}`);
  const r = new ByteReader(bytes);
  const subjectPublicKey = r.bytes(32, 'subject key').slice();
  const meshId = decodeUtf8(r.bytes(r.u8('mesh id length'), 'mesh id'));
  const nodeId = decodeUtf8(r.bytes(r.u8('node id length'), 'node id'));
  const tier = r.u8('tier');
  if (tier > 3) throw new PeatError('DECODE_ERROR', `unknown tier ${tier}`);
  const permissions = r.u8('permissions');
  const le = (b: Uint8Array) => {
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    // milliseconds past 2^53 are not a time any clock will reach, and would not survive a round trip
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeatError('DECODE_ERROR', 'certificate time out of range');
    return Number(v);
  };
  const issuedAtMs = le(r.bytes(8, 'issued_at'));
  const expiresAtMs = le(r.bytes(8, 'expires_at'));
  const issuerPublicKey = r.bytes(32, 'issuer key').slice();
  const signature = r.bytes(64, 'signature').slice();
  r.end('certificate');
  return { subjectPublicKey, meshId, nodeId, tier: tier as TierValue, permissions, issuedAtMs, expiresAtMs, issuerPublicKey, signature };
}

export interface IssueCertificateInput {
  readonly subjectPublicKey: Uint8Array;
  readonly meshId: string;
  readonly tier: TierValue;
  readonly permissions: number;
  readonly issuedAtMs: number;
  readonly expiresAtMs?: number;
}

/** Signs a certificate with `issuer` (root, authority or ENROLL holder); the node id is the subject's DeviceId. */
export async function issueCertificate(issuer: NodeIdentity, input: IssueCertificateInput): Promise<MeshCertificate> {
  if (!Number.isInteger(input.permissions) || input.permissions < 0 || input.permissions > 0xff) {
    throw new PeatError('INVALID_ARGUMENT', 'permissions are one byte');
  }
  const unsigned = {
    subjectPublicKey: new Uint8Array(input.subjectPublicKey),
    meshId: input.meshId,
    nodeId: deviceIdFromPublicKey(input.subjectPublicKey),
    tier: input.tier,
    permissions: input.permissions,
    issuedAtMs: input.issuedAtMs,
    expiresAtMs: input.expiresAtMs ?? 0,
    issuerPublicKey: new Uint8Array(issuer.publicKey),
  };
  return { ...unsigned, signature: await issuer.sign(certificateSigningBytes(unsigned)) };
}

export interface CertificateAuthorityOptions {
  readonly meshId: string;
  /** Public keys whose certificates are trusted: the mesh root and any configured authority. */
  readonly trustedIssuers: readonly Uint8Array[];
  /** Valid ENROLL certificates, whose holders may issue (one level). */
  readonly enrollers?: readonly MeshCertificate[];
  /** Tolerance on the validity window. Default 0. */
  readonly graceMs?: number;
  readonly clock?: Clock;
}

/** Validates membership certificates against a mesh's trust anchors. */
export class CertificateValidator {
  private readonly clock: Clock;
  private readonly anchors: Set<string>;
  private readonly enrollers = new Map<string, MeshCertificate>();

  constructor(private readonly options: CertificateAuthorityOptions) {
    this.clock = options.clock ?? systemClock;
    this.anchors = new Set(options.trustedIssuers.map(toHex));
    for (const c of options.enrollers ?? []) this.addEnroller(c);
  }

  /** Accepts `cert`'s holder as an issuer. @throws PeatError `UNAUTHENTICATED` / `PERMISSION_DENIED` when it may not issue. */
  addEnroller(cert: MeshCertificate): void {
    this.validate(cert);
    if (!this.anchors.has(toHex(cert.issuerPublicKey))) {
      throw new PeatError('PERMISSION_DENIED', 'an ENROLL certificate must come from the root or an authority (one level of delegation)');
    }
    if ((cert.permissions & Permission.ENROLL) === 0) throw new PeatError('PERMISSION_DENIED', 'certificate lacks ENROLL');
    this.enrollers.set(toHex(cert.subjectPublicKey), cert);
  }

  /**
   * Checks signature, mesh, node id, validity window and issuer trust. Returns the certificate.
   * @throws PeatError `UNAUTHENTICATED` (untrusted issuer, bad signature, wrong mesh or node id),
   * `TOKEN_EXPIRED` (outside its window).
   */
  validate(cert: MeshCertificate): MeshCertificate {
    const now = this.clock.now();
    const grace = this.options.graceMs ?? 0;
    if (cert.meshId !== this.options.meshId) throw new PeatError('UNAUTHENTICATED', `certificate is for mesh ${cert.meshId}`);
    if (cert.nodeId !== deviceIdFromPublicKey(cert.subjectPublicKey)) throw new PeatError('UNAUTHENTICATED', 'certificate node id is not its key\'s DeviceId');
    if (now + grace < cert.issuedAtMs || (cert.expiresAtMs !== 0 && now - grace > cert.expiresAtMs)) {
      throw new PeatError('TOKEN_EXPIRED', 'certificate is outside its validity window', { details: { now, issuedAt: cert.issuedAtMs, expiresAt: cert.expiresAtMs } });
    }
    if (!verifyEd25519(cert.issuerPublicKey, certificateSigningBytes(cert), cert.signature)) {
      throw new PeatError('UNAUTHENTICATED', 'certificate signature does not verify');
    }
    const issuer = toHex(cert.issuerPublicKey);
    if (this.anchors.has(issuer)) return cert;
    const enroller = this.enrollers.get(issuer);
    if (!enroller) throw new PeatError('UNAUTHENTICATED', 'certificate issuer is not trusted');
    // the delegate's own certificate must still hold, and a delegate never makes another delegate
    this.validate(enroller);
    if ((cert.permissions & Permission.ENROLL) !== 0) {
      throw new PeatError('PERMISSION_DENIED', 'a delegated issuer cannot grant ENROLL (one level of delegation only)');
    }
    return cert;
  }

  /** A handshake certificate check: the certificate must be present, valid and for exactly this key. */
  checker(): (certificate: Uint8Array | undefined, publicKey: Uint8Array, nodeId: string) => void {
    return (bytes, publicKey, nodeId) => {
      if (!bytes) throw new PeatError('UNAUTHENTICATED', 'authentication failed: certificate required');
      const cert = this.validate(decodeCertificate(bytes));
      if (!bytesEqual(cert.subjectPublicKey, publicKey) || cert.nodeId !== nodeId) {
        throw new PeatError('UNAUTHENTICATED', 'authentication failed: certificate is for another key');
      }
    };
  }
}
