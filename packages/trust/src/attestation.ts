// SPDX-License-Identifier: Apache-2.0
// Attestation reports (spec §10): made with any KeyProvider (a TPM or HSM provider implements
// HardwareSecurityProvider.attest with this format), verified against the device's enrolled key.
import { createHash, timingSafeEqual } from 'node:crypto';
import { systemClock, toHex, type AttestationEvidence, type Clock, type HardwareSecurityProvider, type KeyProvider } from '@ecps/core';
import { TrustError } from './errors';
import type { TrustedKey } from './key-directory';
import { publicKeyObject } from './key-encoding';
import { signatureAlgorithmOf, verifyWithKeyObject } from './signatures';

/** `device_id`: the first 16 hex characters of SHA-256 of the public key's SPKI PEM. */
export function attestationDeviceId(key: Pick<TrustedKey, 'algorithm' | 'publicKey'>): string {
  const pem = publicKeyObject(key.algorithm, key.publicKey).export({ format: 'pem', type: 'spki' }).toString();
  return createHash('sha256').update(pem).digest('hex').slice(0, 16);
}

// RFC 8785 (JCS) for the values reports contain: objects, strings, finite numbers.
function canonical(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TrustError('INVALID_ARGUMENT', 'non-finite number in attestation');
    return JSON.stringify(value);
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  throw new TrustError('INVALID_ARGUMENT', 'unsupported value in attestation');
}

/** The signed bytes: UTF-8 JCS of `{attestation_type, device_id, measurements, nonce (hex), timestamp}`. */
export function attestationSigningInput(evidence: Omit<AttestationEvidence, 'signature' | 'certificateChain'>): Uint8Array {
  return new TextEncoder().encode(
    canonical({
      attestation_type: evidence.type,
      device_id: evidence.deviceId,
      measurements: evidence.measurements,
      nonce: toHex(evidence.nonce),
      timestamp: evidence.timestamp,
    }),
  );
}

/** Makes a report signed by key `keyId` of `provider` (what a HardwareSecurityProvider's `attest` returns). */
export async function createAttestation(
  provider: KeyProvider,
  keyId: string,
  options: { type: AttestationEvidence['type']; nonce: Uint8Array; measurements: Readonly<Record<string, string>>; clock?: Clock },
): Promise<AttestationEvidence> {
  const info = await provider.getKey(keyId);
  if (!info.publicKey) throw new TrustError('MECHANISM_UNSUPPORTED', `key ${keyId} has no public key`);
  const body = {
    type: options.type,
    deviceId: attestationDeviceId({ algorithm: info.algorithm, publicKey: info.publicKey }),
    nonce: options.nonce,
    timestamp: (options.clock ?? systemClock).now() / 1000,
    measurements: { ...options.measurements },
  };
  return { ...body, signature: await provider.sign(keyId, attestationSigningInput(body)) };
}

export interface VerifyAttestationOptions {
  /** The device's enrolled key (Ed25519 by default; RSA-PSS and ECDSA P-256 accepted). */
  key: Pick<TrustedKey, 'algorithm' | 'publicKey'>;
  /** The verifier's fresh single-use challenge (at least 32 random bytes). */
  expectedNonce: Uint8Array;
  /** Measurements that must be present with these values. */
  measurements?: Readonly<Record<string, string>>;
  /** Default 300 s. */
  maxSkewMs?: number;
  clock?: Clock;
  /** Reference reports cannot pass (1): check only freshness and measurements and mark the result unverified. */
  legacy?: boolean;
}

/**
 * Checks a report (spec §10): (1) signature under the enrolled key and `device_id` matching it; (2) the nonce is the
 * challenge; (3) |now − timestamp| ≤ 300 s; (4) non-empty measurements matching the policy.
 * Returns `{ verified: true }`, or `{ verified: false }` in legacy mode.
 * @throws TrustError `ATTESTATION_FAILED` (`details.reason`: `signature`, `device-id`, `nonce`, `stale`, `measurements`),
 *   `INVALID_ARGUMENT` for a challenge shorter than 32 bytes.
 */
export function verifyAttestation(evidence: AttestationEvidence, options: VerifyAttestationOptions): { verified: boolean } {
  const fail = (reason: string, message: string) => new TrustError('ATTESTATION_FAILED', message, { details: { reason, deviceId: evidence.deviceId } });
  if (options.expectedNonce.length < 32) throw new TrustError('INVALID_ARGUMENT', 'attestation challenges must be at least 32 bytes');
  const now = (options.clock ?? systemClock).now();
  if (!(Math.abs(now - evidence.timestamp * 1000) <= (options.maxSkewMs ?? 300_000))) throw fail('stale', 'attestation report is not fresh');
  const entries = Object.entries(evidence.measurements);
  if (entries.length === 0) throw fail('measurements', 'attestation report has no measurements');
  for (const [name, digest] of Object.entries(options.measurements ?? {})) {
    if (evidence.measurements[name] !== digest) throw fail('measurements', `measurement ${name} does not match the policy`);
  }
  if (options.legacy) return { verified: false };
  if (evidence.nonce.length !== options.expectedNonce.length || !timingSafeEqual(evidence.nonce, options.expectedNonce)) {
    throw fail('nonce', 'attestation nonce is not the challenge');
  }
  if (evidence.deviceId !== attestationDeviceId(options.key)) throw fail('device-id', 'device_id does not match the enrolled key');
  const alg = signatureAlgorithmOf(options.key.algorithm);
  if (!verifyWithKeyObject(alg, publicKeyObject(options.key.algorithm, options.key.publicKey), attestationSigningInput(evidence), evidence.signature)) {
    throw fail('signature', 'attestation signature does not verify');
  }
  return { verified: true };
}

/** Whether a KeyProvider can attest (a HardwareSecurityProvider). */
export function isHardwareSecurityProvider(provider: KeyProvider): provider is HardwareSecurityProvider {
  return typeof (provider as Partial<HardwareSecurityProvider>).attest === 'function';
}
