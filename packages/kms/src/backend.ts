// SPDX-License-Identifier: Apache-2.0
// What each cloud package implements: the service calls, one endpoint (region) each, with its own errors mapped to
// the typed errors of ./errors. Retries, failover, timeouts, local verification and data keys live in KmsKeyProvider.
import type { KeyAlgorithm } from '@ecps/core';
import type { KmsError } from './errors';

/** What a service says about a key. */
export interface KmsKeyState {
  readonly algorithm: KeyAlgorithm;
  /** SubjectPublicKeyInfo DER for asymmetric keys (raw 32 bytes for ed25519). */
  readonly publicKey?: Uint8Array;
  readonly enabled: boolean;
}

/** Per-call context: aborting `signal` must abandon the request (the attempt timed out or the caller gave up). */
export interface KmsCall {
  readonly signal: AbortSignal;
}

/** A data key: its plaintext (32 bytes) and the same key wrapped under the KMS key. */
export interface GeneratedDataKey {
  readonly plaintext: Uint8Array;
  readonly wrapped: Uint8Array;
}

/** The operations a backend is asked for; also the names of the permissions the test servers grant or revoke. */
export type KmsOperation = 'create' | 'describe' | 'sign' | 'encrypt' | 'decrypt' | 'wrap' | 'unwrap' | 'generateDataKey';

/**
 * One endpoint of one KMS service. Every method throws a {@link KmsError} (via {@link KmsBackend.classify}) and
 * never logs: the provider decides what is retried. Keys are named by the caller's id; the backend maps it to the
 * service's names (alias, key name, crypto key path).
 */
export interface KmsBackend {
  /** `aws-kms`, `vault`, `azure-keyvault`, `gcp-kms`: also the `kms` member of an eaplog `data_key`. */
  readonly kind: string;
  /** Where requests go (region or URL), for error details; never a credential. */
  readonly endpoint: string;
  /** The algorithms `createKey` accepts. */
  readonly algorithms: readonly KeyAlgorithm[];
  createKey(id: string, algorithm: KeyAlgorithm, call: KmsCall): Promise<void>;
  /** @throws `KEY_NOT_FOUND` when the service has no such key. */
  describeKey(id: string, call: KmsCall): Promise<KmsKeyState>;
  /** ECDSA P-256 over SHA-256: `digest` is SHA-256(data). Returns IEEE P1363 r‖s (64 bytes). */
  signDigest(id: string, digest: Uint8Array, call: KmsCall): Promise<Uint8Array>;
  /** Encrypts under the service's symmetric key with `aad` bound; the result is opaque to everyone but `decrypt`. */
  encrypt(id: string, plaintext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array>;
  decrypt(id: string, ciphertext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array>;
  /**
   * A fresh 256-bit data key from the service, wrapped with `aad` bound (as `encrypt` would), when the service has
   * such an operation; otherwise the provider encrypts a local CSPRNG key.
   */
  generateDataKey?(id: string, aad: Uint8Array, call: KmsCall): Promise<GeneratedDataKey>;
  /** The service's error (or a network one) as a typed {@link KmsError}. */
  classify(error: unknown, operation: KmsOperation): KmsError;
  close?(): Promise<void>;
}
