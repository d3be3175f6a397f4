// SPDX-License-Identifier: Apache-2.0
// One Azure Key Vault (or Managed HSM) through @azure/keyvault-keys: EC P-256 keys sign ES256 over a digest, oct-HSM
// keys encrypt with A256GCM and AAD (Managed HSM), keys named by Key Vault key name; Key Vault's errors as typed
// errors.
import { createPublicKey } from 'node:crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import type { KeyClientOptions } from '@azure/keyvault-keys';
import type { TokenCredential } from '@azure/core-auth';
import type { KeyAlgorithm } from '@ecps/core';
import { KmsError, KmsKeyDisabledError, KmsPermissionError, KmsThrottledError, KmsUnavailableError, networkFailure } from '@ecps/kms';
import type { KmsBackend, KmsCall, KmsKeyState, KmsOperation } from '@ecps/kms';

/** Client options of the Key Vault SDK (TLS settings, `disableChallengeResourceVerification`, proxy, ...). */
export type AzureClientOptions = KeyClientOptions;

/** Clients per key version, and the current version of each key, remembered between calls (bounded). */
const MAX_CACHED = 1024;

/**
 * The Azure side of a {@link KmsBackend}: our key id is the Key Vault key name. A ciphertext is
 * `u8 length ‖ key version ‖ iv(12) ‖ tag(16) ‖ ciphertext`, so that it is decrypted with the version that made it
 * after the key rotates.
 */
export class AzureKeyVaultBackend implements KmsBackend {
  readonly kind = 'azure-keyvault';
  readonly algorithms: readonly KeyAlgorithm[] = ['aes-256-gcm', 'ecdsa-p256'];
  private readonly keys: KeyClient;
  private readonly clientOptions: AzureClientOptions;
  private readonly crypto = new Map<string, CryptographyClient>();
  private readonly currentVersions = new Map<string, string>();

  constructor(
    readonly endpoint: string,
    private readonly credential: TokenCredential,
    clientOptions: AzureClientOptions = {},
  ) {
    // one attempt per call: retries (throttling included) and failover are the provider's
    this.clientOptions = { ...clientOptions, retryOptions: { maxRetries: 0 } };
    this.keys = new KeyClient(endpoint, credential, this.clientOptions);
  }

  async createKey(id: string, algorithm: KeyAlgorithm, call: KmsCall): Promise<void> {
    const name = keyName(id);
    // Key Vault answers an existing name with a new version: refuse first, as the contract asks
    try {
      await this.keys.getKey(name, { abortSignal: call.signal });
      throw new KmsError('ALREADY_EXISTS', `Key Vault key ${id} exists`);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    if (algorithm === 'aes-256-gcm') await this.keys.createOctKey(name, { hsm: true, keySize: 256, abortSignal: call.signal });
    else await this.keys.createEcKey(name, { curve: 'P-256', hsm: true, abortSignal: call.signal });
  }

  async describeKey(id: string, call: KmsCall): Promise<KmsKeyState> {
    const key = await this.keys.getKey(keyName(id), { abortSignal: call.signal });
    const enabled = key.properties.enabled !== false;
    if (key.properties.version) this.remember(this.currentVersions, id, key.properties.version);
    if (key.keyType === 'oct-HSM' || key.keyType === 'oct') return { algorithm: 'aes-256-gcm', enabled };
    if ((key.keyType === 'EC-HSM' || key.keyType === 'EC') && key.key?.crv === 'P-256' && key.key.x && key.key.y) {
      const spki = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(key.key.x), y: b64u(key.key.y) }, format: 'jwk' }).export({ format: 'der', type: 'spki' });
      return { algorithm: 'ecdsa-p256', publicKey: new Uint8Array(spki), enabled };
    }
    throw new KmsError('MECHANISM_UNSUPPORTED', `key ${id} is ${String(key.keyType)}, which ECPS does not use`);
  }

  async signDigest(id: string, digest: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { result } = await this.client(id).sign('ES256', digest, { abortSignal: call.signal });
    return result;
  }

  async encrypt(id: string, plaintext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const version = await this.currentVersion(id, call);
    const out = await this.client(id, version).encrypt({ algorithm: 'A256GCM', plaintext, additionalAuthenticatedData: aad }, { abortSignal: call.signal });
    if (!out.iv || !out.authenticationTag) throw new KmsError('REMOTE_ERROR', 'Key Vault returned no iv or tag');
    const v = new TextEncoder().encode(version);
    const blob = new Uint8Array(1 + v.length + 12 + 16 + out.result.length);
    blob[0] = v.length;
    blob.set(v, 1);
    blob.set(out.iv, 1 + v.length);
    blob.set(out.authenticationTag, 13 + v.length);
    blob.set(out.result, 29 + v.length);
    return blob;
  }

  async decrypt(id: string, ciphertext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const length = ciphertext[0] ?? 0;
    if (ciphertext.length < 1 + length + 28) throw new KmsError('DECRYPTION_FAILED', 'not a Key Vault ciphertext of this provider');
    const version = new TextDecoder().decode(ciphertext.subarray(1, 1 + length));
    if (!/^[0-9a-f]+$/.test(version)) throw new KmsError('DECRYPTION_FAILED', 'not a Key Vault ciphertext of this provider');
    const out = await this.client(id, version).decrypt(
      {
        algorithm: 'A256GCM',
        iv: ciphertext.subarray(1 + length, 13 + length),
        authenticationTag: ciphertext.subarray(13 + length, 29 + length),
        ciphertext: ciphertext.subarray(29 + length),
        additionalAuthenticatedData: aad,
      },
      { abortSignal: call.signal },
    );
    return out.result;
  }

  classify(error: unknown, operation: KmsOperation): KmsError {
    const details = { kind: this.kind, endpoint: this.endpoint, operation };
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status !== 'number') {
      if ((error as { name?: unknown }).name === 'AbortError') return new KmsUnavailableError(`Key Vault ${operation} was abandoned`, { details: { ...details, reason: 'aborted' } });
      // the SDK checks a key's key_ops itself before calling the service
      if (/is not supported on key/.test(String((error as Error).message))) return new KmsError('MECHANISM_UNSUPPORTED', `Key Vault ${operation}: ${(error as Error).message}`, { details });
      return networkFailure(error, details) ?? new KmsError('REMOTE_ERROR', `Key Vault ${operation} failed: ${String((error as Error).message)}`, { details });
    }
    const body = (error as { details?: { error?: { code?: string; message?: string; innererror?: { code?: string } } } }).details?.error;
    const serviceCode = body?.innererror?.code ?? body?.code;
    const message = `Key Vault ${operation}: ${status} ${serviceCode ?? ''} ${body?.message ?? ''}`.trim();
    const options = { details: { ...details, status, serviceCode } };
    if (status === 429) return new KmsThrottledError(message, options);
    if (status === 401) return new KmsError('UNAUTHENTICATED', message, options);
    if (status === 403) return serviceCode === 'KeyDisabled' || /disabled key/.test(message) ? new KmsKeyDisabledError(message, options) : new KmsPermissionError(message, options);
    if (status === 404) return new KmsError('KEY_NOT_FOUND', message, options);
    if (status >= 500) return new KmsUnavailableError(message, options);
    if (/does not support operation/.test(message)) return new KmsError('MECHANISM_UNSUPPORTED', message, options);
    if (operation === 'decrypt' || operation === 'unwrap') return new KmsError('DECRYPTION_FAILED', message, options);
    return new KmsError(status === 400 ? 'INVALID_ARGUMENT' : 'REMOTE_ERROR', message, options);
  }

  /** The key's current version (from a get, remembered): encryption names it so decryption can. */
  private async currentVersion(id: string, call: KmsCall): Promise<string> {
    const known = this.currentVersions.get(id);
    if (known) return known;
    const key = await this.keys.getKey(keyName(id), { abortSignal: call.signal });
    if (!key.properties.version) throw new KmsError('REMOTE_ERROR', `Key Vault returned no version for ${id}`);
    this.remember(this.currentVersions, id, key.properties.version);
    return key.properties.version;
  }

  private client(id: string, version?: string): CryptographyClient {
    const kid = `${this.endpoint.replace(/\/+$/, '')}/keys/${keyName(id)}${version ? `/${version}` : ''}`;
    let client = this.crypto.get(kid);
    if (!client) {
      client = new CryptographyClient(kid, this.credential, this.clientOptions);
      this.remember(this.crypto, kid, client);
    }
    return client;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (!map.has(key) && map.size >= MAX_CACHED) map.delete(map.keys().next().value as string);
    map.set(key, value);
  }
}

function keyName(id: string): string {
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(id)) throw new KmsError('INVALID_ARGUMENT', `Key Vault key names use letters, digits and -: ${JSON.stringify(id)}`);
  return id;
}

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
