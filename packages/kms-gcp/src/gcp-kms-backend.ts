// SPDX-License-Identifier: Apache-2.0
// One Cloud KMS endpoint through @google-cloud/kms (gRPC by default): keys in one key ring, EC_SIGN_P256_SHA256
// signing of a digest, GOOGLE_SYMMETRIC_ENCRYPTION with the AAD as additional authenticated data, gRPC status codes
// as typed errors. The client's methods return promises that cannot be cancelled, so an abandoned attempt ends at
// its gRPC deadline (`callTimeoutMs`), not at the abort signal.
import { createPublicKey } from 'node:crypto';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import type { KeyAlgorithm } from '@ecps/core';
import { KmsError, KmsKeyDisabledError, KmsPermissionError, KmsThrottledError, KmsUnavailableError, ecdsaDerToP1363, networkFailure } from '@ecps/kms';
import type { KmsBackend, KmsCall, KmsKeyState, KmsOperation } from '@ecps/kms';

/** Options of the Node client (`apiEndpoint`, `port`, `sslCreds`, `credentials`, `fallback`, ...). */
export type GcpClientOptions = NonNullable<ConstructorParameters<typeof KeyManagementServiceClient>[0]>;

/** gRPC status codes (google.rpc.Code). */
const CODE = { CANCELLED: 1, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;


/** The signing version of each asymmetric key (the newest enabled one), remembered between calls. */
const MAX_VERSIONS = 1024;

/** The Google Cloud side of a {@link KmsBackend}: our key id `x` is `<keyRing>/cryptoKeys/x`. */
export class GcpKmsBackend implements KmsBackend {
  readonly kind = 'gcp-kms';
  readonly endpoint: string;
  readonly algorithms: readonly KeyAlgorithm[] = ['aes-256-gcm', 'ecdsa-p256'];
  private readonly client: KeyManagementServiceClient;
  private readonly signingVersions = new Map<string, string>();

  constructor(
    private readonly keyRing: string,
    clientOptions: GcpClientOptions = {},
    private readonly protectionLevel: 'SOFTWARE' | 'HSM' = 'SOFTWARE',
    private readonly callTimeoutMs = 5000,
  ) {
    if (!/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+$/.test(keyRing)) {
      throw new KmsError('CONFIG_INVALID', `keyRing must be projects/<p>/locations/<l>/keyRings/<r>, not ${keyRing}`);
    }
    this.endpoint = `${clientOptions.apiEndpoint ?? 'cloudkms.googleapis.com'}${clientOptions.port ? `:${clientOptions.port}` : ''}`;
    this.client = new KeyManagementServiceClient(clientOptions);
  }

  /** The CryptoKey resource name for our id (a full resource name is used as it is). */
  keyName(id: string): string {
    if (id.startsWith('projects/')) return id;
    if (!/^[a-zA-Z0-9_-]{1,63}$/.test(id)) throw new KmsError('INVALID_ARGUMENT', `Cloud KMS key ids use letters, digits, _ and -: ${JSON.stringify(id)}`);
    return `${this.keyRing}/cryptoKeys/${id}`;
  }

  async createKey(id: string, algorithm: KeyAlgorithm, _call: KmsCall): Promise<void> {
    if (id.startsWith('projects/')) throw new KmsError('INVALID_ARGUMENT', 'name the new key by its id in the configured key ring');
    const symmetric = algorithm === 'aes-256-gcm';
    await this.client.createCryptoKey(
      {
        parent: this.keyRing,
        cryptoKeyId: id,
        cryptoKey: {
          purpose: symmetric ? 'ENCRYPT_DECRYPT' : 'ASYMMETRIC_SIGN',
          versionTemplate: { algorithm: symmetric ? 'GOOGLE_SYMMETRIC_ENCRYPTION' : 'EC_SIGN_P256_SHA256', protectionLevel: this.protectionLevel },
        },
      },
      this.once(),
    );
  }

  async describeKey(id: string, _call: KmsCall): Promise<KmsKeyState> {
    const [key] = await this.client.getCryptoKey({ name: this.keyName(id) }, this.once());
    if (key.purpose === 'ENCRYPT_DECRYPT') return { algorithm: 'aes-256-gcm', enabled: key.primary?.state === 'ENABLED' };
    if (key.purpose === 'ASYMMETRIC_SIGN' && key.versionTemplate?.algorithm === 'EC_SIGN_P256_SHA256') {
      const version = await this.signingVersion(id);
      if (!version) return { algorithm: 'ecdsa-p256', enabled: false };
      const [publicKey] = await this.client.getPublicKey({ name: version }, this.once());
      return { algorithm: 'ecdsa-p256', publicKey: new Uint8Array(createPublicKey(String(publicKey.pem)).export({ format: 'der', type: 'spki' })), enabled: true };
    }
    throw new KmsError('MECHANISM_UNSUPPORTED', `key ${id} is ${String(key.purpose)}/${String(key.versionTemplate?.algorithm)}, which ECPS does not use`);
  }

  async signDigest(id: string, digest: Uint8Array, _call: KmsCall): Promise<Uint8Array> {
    const version = await this.signingVersion(id);
    if (!version) throw new KmsKeyDisabledError(`key ${id} has no enabled version`, { details: { kind: this.kind, endpoint: this.endpoint, operation: 'sign' } });
    try {
      const [out] = await this.client.asymmetricSign({ name: version, digest: { sha256: digest } }, this.once());
      return ecdsaDerToP1363(new Uint8Array(out.signature as Uint8Array));
    } catch (error) {
      this.signingVersions.delete(id); // the version may have been disabled or destroyed: look again next time
      throw error;
    }
  }

  async encrypt(id: string, plaintext: Uint8Array, aad: Uint8Array, _call: KmsCall): Promise<Uint8Array> {
    const [out] = await this.client.encrypt({ name: this.keyName(id), plaintext, additionalAuthenticatedData: aad }, this.once());
    return new Uint8Array(out.ciphertext as Uint8Array);
  }

  async decrypt(id: string, ciphertext: Uint8Array, aad: Uint8Array, _call: KmsCall): Promise<Uint8Array> {
    const [out] = await this.client.decrypt({ name: this.keyName(id), ciphertext, additionalAuthenticatedData: aad }, this.once());
    return new Uint8Array(out.plaintext as Uint8Array);
  }

  classify(error: unknown, operation: KmsOperation): KmsError {
    const details = { kind: this.kind, endpoint: this.endpoint, operation };
    const code = (error as { code?: unknown }).code;
    const said = String((error as { details?: unknown }).details ?? (error as Error).message ?? '');
    const message = `Cloud KMS ${operation}: ${said}`;
    const options = { details: { ...details, grpcCode: code } };
    switch (code) {
      case CODE.RESOURCE_EXHAUSTED:
        return new KmsThrottledError(message, options);
      case CODE.PERMISSION_DENIED:
        return new KmsPermissionError(message, options);
      case CODE.UNAUTHENTICATED:
        return new KmsError('UNAUTHENTICATED', message, options);
      case CODE.NOT_FOUND:
        return new KmsError('KEY_NOT_FOUND', message, options);
      case CODE.ALREADY_EXISTS:
        return new KmsError('ALREADY_EXISTS', message, options);
      case CODE.FAILED_PRECONDITION:
        if (/not enabled|DISABLED|DESTROY/.test(said)) return new KmsKeyDisabledError(message, options);
        if (/purpose|does not support/.test(said)) return new KmsError('MECHANISM_UNSUPPORTED', message, options);
        return new KmsError('REMOTE_ERROR', message, options);
      case CODE.INVALID_ARGUMENT:
        return new KmsError(operation === 'decrypt' || operation === 'unwrap' ? 'DECRYPTION_FAILED' : 'INVALID_ARGUMENT', message, options);
      case CODE.CANCELLED:
      case CODE.DEADLINE_EXCEEDED:
      case CODE.ABORTED:
      case CODE.INTERNAL:
      case CODE.UNAVAILABLE:
        return new KmsUnavailableError(message, options);
      default:
        return networkFailure(error, details) ?? new KmsError('REMOTE_ERROR', message, options);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /**
   * Options for one call: none of the client's own retries (retries and failover are the provider's) and a gRPC
   * deadline of the attempt timeout, since the generated methods return promises that cannot be cancelled. A fresh
   * object each time: the client writes into it.
   */
  private once(): never {
    return { retry: null, timeout: this.callTimeoutMs } as never;
  }

  /** The newest enabled version of an asymmetric key (Cloud KMS signs with a named version), or undefined. */
  private async signingVersion(id: string): Promise<string | undefined> {
    const known = this.signingVersions.get(id);
    if (known) return known;
    const [versions] = await this.client.listCryptoKeyVersions({ parent: this.keyName(id), filter: 'state=ENABLED' }, this.once());
    const newest = versions
      .map((v) => String(v.name))
      .sort((a, b) => Number(a.slice(a.lastIndexOf('/') + 1)) - Number(b.slice(b.lastIndexOf('/') + 1)))
      .at(-1);
    if (newest) {
      if (this.signingVersions.size >= MAX_VERSIONS) this.signingVersions.delete(this.signingVersions.keys().next().value as string);
      this.signingVersions.set(id, newest);
    }
    return newest;
  }
}
