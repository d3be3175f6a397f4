// SPDX-License-Identifier: Apache-2.0
// An Azure Key Vault (Managed HSM flavour: oct-HSM keys for A256GCM, EC-HSM P-256 for ES256) on loopback for tests:
// HTTPS only (the SDK refuses anything else), the bearer-token challenge (401 with `WWW-Authenticate: Bearer
// authorization=..., resource=...` for a request without a token, as the SDK's challenge policy expects), the REST
// shapes of keys/create, get, PATCH attributes, encrypt, decrypt and sign (base64url fields, `kid` with versions),
// and Key Vault's error bodies, over SoftKms.
import { createPublicKey, randomBytes } from 'node:crypto';
import { ServerFaults, startLoopbackHttp, withFaultControls } from './control';
import type { HttpAnswer, KmsPermission, KmsTestControl } from './control';
import { SoftKms, SoftKmsError } from './soft-kms';
import type { SoftKey } from './soft-kms';

export interface AzureKeyVaultServerOptions {
  /** Server certificate and key (PEM), e.g. from `generateTestCertificates().server` (SAN 127.0.0.1). */
  tls: { cert: string; key: string };
  /** Key state; one SoftKms shared by two servers acts as a vault and its geo-replica. */
  engine?: SoftKms;
}

export interface AzureKeyVaultServer extends KmsTestControl {
  /** The access token the server accepts (give it to the SDK through a TokenCredential). */
  readonly token: string;
  readonly tenantId: string;
  readonly engine: SoftKms;
}

class AzureError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
  ) {
    super(message);
  }
}

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const fromB64u = (value: unknown, field: string): Buffer => {
  if (typeof value !== 'string') throw new AzureError(400, 'BadParameter', `Property ${field} is required`);
  return Buffer.from(value, 'base64url');
};

/** Starts the server on 127.0.0.1 and an ephemeral port; its `url` is the vault URL. */
export async function startAzureKeyVaultServer(options: AzureKeyVaultServerOptions): Promise<AzureKeyVaultServer> {
  const engine = options.engine ?? new SoftKms();
  const faults = new ServerFaults();
  const token = `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString('base64url')}`;
  const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  // every version of every key gets a 32-hex version id, as Key Vault's are
  const versionIds = new Map<string, string[]>();
  const engineName = (name: string): string => `azure/${name}`;
  let vaultUrl = '';

  function keyOf(name: string): SoftKey {
    const key = engine.keys.get(engineName(name));
    if (!key) throw new AzureError(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.`);
    return key;
  }

  function versionIdsOf(key: SoftKey): string[] {
    let ids = versionIds.get(key.name);
    if (!ids) versionIds.set(key.name, (ids = []));
    while (ids.length < key.versions.length) ids.push(randomBytes(16).toString('hex'));
    return ids;
  }

  /** The version number for a version id ('' = the current one). */
  function versionOf(key: SoftKey, name: string, versionId: string): number {
    if (versionId === '') return key.primary;
    const index = versionIdsOf(key).indexOf(versionId);
    if (index < 0) throw new AzureError(404, 'KeyNotFound', `A key with (name/id) ${name}/${versionId} was not found in this key vault.`);
    return index + 1;
  }

  function bundle(name: string, key: SoftKey, version = key.primary): Record<string, unknown> {
    const kid = `${vaultUrl}/keys/${name}/${versionIdsOf(key)[version - 1] as string}`;
    const v = key.versions[version - 1];
    const created = Math.floor(key.createdAt / 1000);
    const jwk: Record<string, unknown> = key.type === 'aes-256-gcm'
      ? { kid, kty: 'oct-HSM', key_ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] }
      : (() => {
          const pub = createPublicKey({ key: v?.spki as Buffer, format: 'der', type: 'spki' }).export({ format: 'jwk' });
          return { kid, kty: 'EC-HSM', key_ops: ['sign', 'verify'], crv: 'P-256', x: pub.x, y: pub.y };
        })();
    return { key: jwk, attributes: { enabled: key.enabled && (v?.enabled ?? false), created, updated: created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90, exportable: false }, tags: {} };
  }

  function usable(name: string, key: SoftKey, version: number, operation: string, type: SoftKey['type']): void {
    if (!key.enabled || !key.versions[version - 1]?.enabled) throw new AzureError(403, 'Forbidden', `Operation ${operation} is not allowed on a disabled key.`, 'KeyDisabled');
    if (key.type !== type) throw new AzureError(400, 'BadParameter', `Key ${name} does not support operation ${operation}: key type ${key.type === 'aes-256-gcm' ? 'oct-HSM' : 'EC-HSM'}.`);
  }

  type Route = { permission: KmsPermission; operation: string; run: (body: Record<string, unknown>) => Record<string, unknown> };

  function route(method: string, path: string): Route | undefined {
    let m: RegExpExecArray | null;
    if (method === 'POST' && (m = /^\/keys\/([0-9a-zA-Z-]+)\/create$/.exec(path))) {
      const name = m[1] as string;
      return {
        permission: 'create',
        operation: 'create',
        run: (body) => {
          const kty = String(body['kty'] ?? '');
          let type: SoftKey['type'];
          if ((kty === 'oct-HSM' || kty === 'oct') && (body['key_size'] === undefined || body['key_size'] === 256)) type = 'aes-256-gcm';
          else if ((kty === 'EC' || kty === 'EC-HSM') && (body['crv'] ?? 'P-256') === 'P-256') type = 'ecdsa-p256';
          else throw new AzureError(400, 'BadParameter', `kty ${kty} is not supported by this test server`);
          // Key Vault answers an existing name with a new version of it
          const existing = engine.keys.get(engineName(name));
          if (existing && existing.type === type) engine.rotate(existing.name);
          else if (existing) throw new AzureError(400, 'BadParameter', `Key ${name} exists with another key type`);
          const key = existing ?? engine.create(engineName(name), type);
          return bundle(name, key);
        },
      };
    }
    if ((m = /^\/keys\/([0-9a-zA-Z-]+)(?:\/([0-9a-f]*))?$/.exec(path)) && (method === 'GET' || method === 'PATCH')) {
      const [, name, versionId = ''] = m as unknown as [string, string, string | undefined];
      return {
        permission: method === 'GET' ? 'describe' : 'create',
        operation: method === 'GET' ? 'get' : 'update',
        run: (body) => {
          const key = keyOf(name);
          const version = versionOf(key, name, versionId);
          const attributes = body['attributes'] as { enabled?: unknown } | undefined;
          if (method === 'PATCH' && typeof attributes?.enabled === 'boolean') (key.versions[version - 1] as { enabled: boolean }).enabled = attributes.enabled;
          return bundle(name, key, version);
        },
      };
    }
    if (method === 'POST' && (m = /^\/keys\/([0-9a-zA-Z-]+)\/(?:([0-9a-f]*)\/)?(encrypt|decrypt|sign)$/.exec(path))) {
      const [, name, versionId = '', operation] = m as unknown as [string, string, string | undefined, 'encrypt' | 'decrypt' | 'sign'];
      return {
        permission: operation,
        operation,
        run: (body) => {
          const key = keyOf(name);
          const version = versionOf(key, name, versionId);
          const kid = `${vaultUrl}/keys/${name}/${versionIdsOf(key)[version - 1] as string}`;
          if (operation === 'sign') {
            usable(name, key, version, 'sign', 'ecdsa-p256');
            if (body['alg'] !== 'ES256') throw new AzureError(400, 'BadParameter', `Algorithm ${String(body['alg'])} is not valid for an EC P-256 key`);
            return { kid, value: b64u(engine.signDigest(key.name, fromB64u(body['value'], 'value'), version).signature) };
          }
          usable(name, key, version, operation, 'aes-256-gcm');
          if (body['alg'] !== 'A256GCM') throw new AzureError(400, 'BadParameter', `Algorithm ${String(body['alg'])} is not supported by this test server`);
          const aad = body['aad'] === undefined ? Buffer.alloc(0) : fromB64u(body['aad'], 'aad');
          if (operation === 'encrypt') {
            if (key.primary !== version) throw new AzureError(400, 'BadParameter', 'encrypt with the current version only');
            const { iv, sealed } = engine.encrypt(key.name, fromB64u(body['value'], 'value'), aad);
            return { kid, value: b64u(sealed.subarray(0, sealed.length - 16)), iv: b64u(iv), tag: b64u(sealed.subarray(sealed.length - 16)), ...(aad.length ? { aad: b64u(aad) } : {}) };
          }
          const sealed = Buffer.concat([fromB64u(body['value'], 'value'), fromB64u(body['tag'], 'tag')]);
          try {
            return { kid, value: b64u(engine.decrypt(key.name, version, fromB64u(body['iv'], 'iv'), sealed, aad)) };
          } catch (error) {
            if (error instanceof SoftKmsError && error.reason === 'auth-failed') throw new AzureError(400, 'BadParameter', 'Decryption failed: the authentication tag does not match.');
            throw error;
          }
        },
      };
    }
    return undefined;
  }

  const json = (status: number, payload: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomBytes(16).toString('hex'), ...headers },
    body: JSON.stringify(payload),
  });
  const error = (e: AzureError, headers?: Record<string, string>): HttpAnswer =>
    json(e.status, { error: { code: e.code, message: e.message, ...(e.inner ? { innererror: { code: e.inner } } : {}) } }, headers);

  const http = await startLoopbackHttp(async (request, body) => {
    const url = new URL(request.url ?? '/', 'https://vault');
    if (!url.searchParams.get('api-version')) return error(new AzureError(400, 'BadParameter', 'The api-version query parameter is required'));
    const handler = route(request.method ?? 'GET', url.pathname);
    if (!handler) return error(new AzureError(404, 'NotFound', `no route for ${request.method ?? ''} ${url.pathname}`));
    if (request.headers.authorization !== `Bearer ${token}`) {
      // the challenge the SDK's keyVaultAuthenticationPolicy answers by asking its credential for a token
      return error(new AzureError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'), {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"`,
      });
    }
    const verdict = await faults.gate(handler.operation, handler.permission);
    if (verdict === 'throttled') return error(new AzureError(429, 'Throttled', 'Request was not allowed because application exceeded the allowed request rate'), { 'retry-after': '1' });
    if (verdict === 'denied') {
      return error(new AzureError(403, 'Forbidden', `Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/managedHsm/keys/${handler.operation}/action'`, 'ForbiddenByRbac'));
    }
    let input: Record<string, unknown> = {};
    try {
      if (body.length > 0) input = JSON.parse(body.toString()) as Record<string, unknown>;
    } catch {
      return error(new AzureError(400, 'BadParameter', 'The request body is not valid JSON'));
    }
    try {
      return json(200, handler.run(input));
    } catch (e) {
      if (e instanceof AzureError) return error(e);
      if (e instanceof SoftKmsError) return error(new AzureError(400, 'BadParameter', e.message));
      return error(new AzureError(500, 'InternalServerError', String(e)));
    }
  }, options.tls);
  vaultUrl = http.url;

  return withFaultControls(faults, {
    url: http.url,
    token,
    tenantId,
    engine,
    disableKey: (id) => {
      keyOf(id).enabled = false;
    },
    enableKey: (id) => {
      keyOf(id).enabled = true;
    },
    close: () => http.close(),
  });
}
