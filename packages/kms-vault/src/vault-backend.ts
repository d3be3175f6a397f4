// SPDX-License-Identifier: Apache-2.0
// One Vault address: hashi-vault-js for the client (its axios instance carries base URL, TLS CA, namespace and
// timeouts; its AppRole login for credentials) and that same instance for the Transit engine, which the library has
// no methods for. Vault's answers become typed errors.
import { createPublicKey } from 'node:crypto';
import Vault from 'hashi-vault-js';
import type { KeyAlgorithm } from '@ecps/core';
import { KmsError, KmsKeyDisabledError, KmsPermissionError, KmsThrottledError, KmsUnavailableError, networkFailure } from '@ecps/kms';
import type { KmsBackend, KmsCall, KmsKeyState, KmsOperation } from '@ecps/kms';

/** Supplies the Vault token for each request (the provider logs in and renews behind it). */
export type VaultTokenSource = () => Promise<string>;

export interface VaultEndpoint {
  /** e.g. `https://vault.example:8200` (no `/v1`). */
  address: string;
  /** PEM file of the CA that signed Vault's certificate (default: `VAULT_CACERT`, else the system CAs). */
  caCertFile?: string;
  /** Vault Enterprise namespace (default `VAULT_NAMESPACE`). */
  namespace?: string;
}

interface VaultAnswer<T> {
  data: T;
}

type HttpInstance = (options: Record<string, unknown>) => Promise<{ status: number; data: unknown }>;

const TYPE_OF: Record<KeyAlgorithm, string | undefined> = {
  'aes-256-gcm': 'aes256-gcm96',
  'ecdsa-p256': 'ecdsa-p256',
  ed25519: undefined,
  'rsa-pss-2048': undefined,
  x25519: undefined,
};

/** The Vault side of a {@link KmsBackend}: our key id is the Transit key name. */
export class VaultBackend implements KmsBackend {
  readonly kind = 'vault';
  readonly endpoint: string;
  readonly algorithms: readonly KeyAlgorithm[] = ['aes-256-gcm', 'ecdsa-p256'];
  private readonly http: HttpInstance;

  constructor(
    endpoint: VaultEndpoint,
    private readonly token: VaultTokenSource,
    private readonly transitMount = 'transit',
  ) {
    this.endpoint = endpoint.address;
    const cacert = endpoint.caCertFile ?? process.env['VAULT_CACERT'];
    const namespace = endpoint.namespace ?? process.env['VAULT_NAMESPACE'];
    const client = new Vault({
      https: endpoint.address.startsWith('https:'),
      baseUrl: `${endpoint.address.replace(/\/+$/, '')}/v1`,
      // the provider's attempt timeout aborts a call; this only bounds a request nobody aborts
      timeout: 120_000,
      ...(cacert ? { cacert } : {}),
      ...(namespace ? { namespace } : {}),
    });
    this.http = (client as unknown as { instance: HttpInstance }).instance;
  }

  async createKey(id: string, algorithm: KeyAlgorithm, call: KmsCall): Promise<void> {
    // Vault answers an existing name with the existing key: refuse first, as the contract asks
    if (await this.exists(id, call)) throw new KmsError('ALREADY_EXISTS', `Transit key ${id} exists`);
    await this.request('post', `keys/${this.name(id)}`, { type: TYPE_OF[algorithm] }, call);
  }

  async describeKey(id: string, call: KmsCall): Promise<KmsKeyState> {
    const { data } = await this.request<{ type: string; keys: Record<string, { public_key?: string }>; latest_version: number }>('get', `keys/${this.name(id)}`, undefined, call);
    if (data.type === 'aes256-gcm96') return { algorithm: 'aes-256-gcm', enabled: true };
    if (data.type === 'ecdsa-p256') {
      const pem = data.keys[String(data.latest_version)]?.public_key;
      if (!pem) throw new KmsError('REMOTE_ERROR', `Vault returned no public key for ${id}`);
      return { algorithm: 'ecdsa-p256', publicKey: new Uint8Array(createPublicKey(pem).export({ format: 'der', type: 'spki' })), enabled: true };
    }
    throw new KmsError('MECHANISM_UNSUPPORTED', `Transit key ${id} is ${data.type}, which ECPS does not use`);
  }

  async signDigest(id: string, digest: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { data } = await this.request<{ signature: string }>(
      'post',
      `sign/${this.name(id)}/sha2-256`,
      { input: b64(digest), prehashed: true, marshaling_algorithm: 'jws' },
      call,
    );
    const signature = /^vault:v\d+:([A-Za-z0-9_-]+)$/.exec(data.signature)?.[1];
    const raw = signature ? new Uint8Array(Buffer.from(signature, 'base64url')) : undefined;
    if (raw?.length !== 64) throw new KmsError('REMOTE_ERROR', 'Vault returned a malformed signature');
    return raw;
  }

  async encrypt(id: string, plaintext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { data } = await this.request<{ ciphertext: string }>('post', `encrypt/${this.name(id)}`, { plaintext: b64(plaintext), associated_data: b64(aad) }, call);
    return new TextEncoder().encode(data.ciphertext);
  }

  async decrypt(id: string, ciphertext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { data } = await this.request<{ plaintext: string }>(
      'post',
      `decrypt/${this.name(id)}`,
      { ciphertext: new TextDecoder().decode(ciphertext), associated_data: b64(aad) },
      call,
    );
    return new Uint8Array(Buffer.from(data.plaintext, 'base64'));
  }

  classify(error: unknown, operation: KmsOperation): KmsError {
    const details = { kind: this.kind, endpoint: this.endpoint, operation };
    const response = (error as { response?: { status?: number; data?: { errors?: unknown[] } } }).response;
    if (!response) {
      if ((error as { code?: unknown }).code === 'ERR_CANCELED') return new KmsUnavailableError(`Vault ${operation} was abandoned`, { details: { ...details, reason: 'aborted' } });
      return networkFailure(error, details) ?? new KmsError('REMOTE_ERROR', `Vault ${operation} failed: ${String((error as Error).message)}`, { details });
    }
    const status = response.status ?? 0;
    const said = (response.data?.errors ?? []).map(String).join('; ');
    const message = `Vault ${operation}: ${status} ${said}`.trim();
    const options = { details: { ...details, status } };
    if (status === 429) return new KmsThrottledError(message, options);
    if (status === 403) return new KmsPermissionError(message, options);
    if (status === 404) return new KmsError('KEY_NOT_FOUND', message, options);
    if (status >= 500 || status === 412 || status === 473) return new KmsUnavailableError(message, options); // sealed, standby, not yet replicated
    if (/disallowed by policy/.test(said)) return new KmsKeyDisabledError(message, options);
    if (/encryption key not found/.test(said)) return new KmsError('KEY_NOT_FOUND', message, options);
    if (/does not support/.test(said)) return new KmsError('MECHANISM_UNSUPPORTED', message, options);
    if (/message authentication failed|invalid ciphertext|unable to decode/.test(said)) return new KmsError('DECRYPTION_FAILED', message, options);
    return new KmsError(status === 400 ? 'INVALID_ARGUMENT' : 'REMOTE_ERROR', message, options);
  }

  private name(id: string): string {
    if (!/^[\w.-]+$/.test(id)) throw new KmsError('INVALID_ARGUMENT', `Transit key names use letters, digits, _ . -: ${JSON.stringify(id)}`);
    return id;
  }

  private async exists(id: string, call: KmsCall): Promise<boolean> {
    try {
      await this.request('get', `keys/${this.name(id)}`, undefined, call);
      return true;
    } catch (error) {
      if ((error as { response?: { status?: number } }).response?.status === 404) return false;
      throw error;
    }
  }

  private async request<T>(method: 'get' | 'post', path: string, data: unknown, call: KmsCall): Promise<VaultAnswer<T>> {
    const response = await this.http({
      url: `${this.transitMount}/${path}`,
      method,
      headers: { 'X-Vault-Token': await this.token() },
      signal: call.signal,
      ...(data === undefined ? {} : { data }),
    });
    return response.data as VaultAnswer<T>;
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
