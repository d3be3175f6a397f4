// SPDX-License-Identifier: Apache-2.0
// A HashiCorp Vault on loopback for tests: the HTTP API (`/v1/...`, `X-Vault-Token` or `Authorization: Bearer`,
// `{"errors": [...]}` answers) of the Transit secrets engine (keys with versions, encrypt with associated_data,
// decrypt, sign with prehashed input and JWS marshaling, key config with min_decryption_version, rotate, upsert on
// encrypt), the KV v2 engine (data with versions and check-and-set, metadata) and AppRole login, over SoftKms.
import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { ServerFaults, startLoopbackHttp, withFaultControls } from './control';
import type { HttpAnswer, KmsPermission, KmsTestControl } from './control';
import { SoftKms, SoftKmsError } from './soft-kms';
import type { SoftKey } from './soft-kms';

export interface VaultServerOptions {
  /** Key state; one SoftKms shared by two servers acts as a replicated cluster. */
  engine?: SoftKms;
  /** Mount paths (default `transit` and `secret`). */
  transitMount?: string;
  kvMount?: string;
}

export interface VaultServer extends KmsTestControl {
  /** A token allowed everything the faults do not revoke. */
  readonly token: string;
  /** AppRole credentials that log in to a token like `token`. */
  readonly appRole: { roleId: string; secretId: string };
  readonly engine: SoftKms;
}

class VaultError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TYPES: Record<string, SoftKey['type'] | undefined> = { 'aes256-gcm96': 'aes-256-gcm', 'ecdsa-p256': 'ecdsa-p256' };
const b64 = (value: unknown, field: string): Buffer => {
  if (typeof value !== 'string') throw new VaultError(400, `missing ${field}`);
  return Buffer.from(value, 'base64');
};

/** Starts the server on 127.0.0.1 and an ephemeral port; the API is under `<url>/v1`. */
export async function startVaultServer(options: VaultServerOptions = {}): Promise<VaultServer> {
  const engine = options.engine ?? new SoftKms();
  const transit = options.transitMount ?? 'transit';
  const kv = options.kvMount ?? 'secret';
  const faults = new ServerFaults();
  const rootToken = `hvs.${randomBytes(18).toString('base64url')}`;
  const appRole = { roleId: randomUUID(), secretId: randomUUID() };
  const tokens = new Set([rootToken]);
  const secrets = new Map<string, { versions: { data: Record<string, unknown>; created: string }[] }>();
  // Transit key names live in the engine under a prefix so they never meet another service's names
  const keyName = (name: string): string => `vault/${name}`;

  function transitKey(name: string): SoftKey {
    const key = engine.keys.get(keyName(name));
    if (!key) throw new VaultError(400, 'encryption key not found');
    return key;
  }

  function keyInfo(name: string, key: SoftKey): Record<string, unknown> {
    const versions: Record<string, unknown> = {};
    for (const v of key.versions) {
      const created = new Date(key.createdAt).toISOString();
      versions[String(v.version)] = v.spki
        ? { creation_time: created, name: 'P-256', public_key: createPublicKey({ key: v.spki, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) }
        : Math.floor(key.createdAt / 1000);
    }
    const symmetric = key.type === 'aes-256-gcm';
    return {
      name,
      type: symmetric ? 'aes256-gcm96' : 'ecdsa-p256',
      keys: versions,
      latest_version: key.versions.length,
      min_available_version: 0,
      min_decryption_version: Number(key.meta['minDecryptionVersion'] ?? 1),
      min_encryption_version: 0,
      deletion_allowed: false,
      derived: false,
      exportable: false,
      allow_plaintext_backup: false,
      supports_encryption: symmetric,
      supports_decryption: symmetric,
      supports_derivation: symmetric,
      supports_signing: !symmetric,
      auto_rotate_period: 0,
    };
  }

  /** `vault:v<n>:` + base64; throws Vault's answer for anything else or a disallowed version. */
  function parseVersioned(value: unknown, key: SoftKey): { version: number; bytes: Buffer } {
    const match = typeof value === 'string' ? /^vault:v(\d+):([A-Za-z0-9+/=_-]*)$/.exec(value) : null;
    if (!match) throw new VaultError(400, 'invalid ciphertext: no prefix');
    const version = Number(match[1]);
    if (version < Number(key.meta['minDecryptionVersion'] ?? 1)) throw new VaultError(400, 'ciphertext or signature version is disallowed by policy (too old)');
    if (version > key.versions.length || version < 1) throw new VaultError(400, 'invalid ciphertext: version is too new');
    return { version, bytes: Buffer.from(match[2] as string, 'base64') };
  }

  type Route = { permission: KmsPermission | undefined; run: (body: Record<string, unknown>) => Record<string, unknown> | undefined };

  function route(method: string, path: string): Route | undefined {
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === 'auth/approle/login') {
      return {
        permission: undefined,
        run: (body) => {
          if (body['role_id'] !== appRole.roleId || body['secret_id'] !== appRole.secretId) throw new VaultError(400, 'invalid role or secret ID');
          const token = `hvs.${randomBytes(18).toString('base64url')}`;
          tokens.add(token);
          return { auth: { client_token: token, accessor: randomUUID(), policies: ['default', 'ecps'], lease_duration: 3600, renewable: true } };
        },
      };
    }
    if ((m = new RegExp(`^${transit}/keys/([\\w.-]+)$`).exec(path))) {
      const name = m[1] as string;
      if (method === 'GET') return { permission: 'describe', run: () => ({ data: keyInfo(name, engine.keys.get(keyName(name)) ?? notFound()) }) };
      if (method === 'POST') {
        return {
          permission: 'create',
          run: (body) => {
            const type = TYPES[String(body['type'] ?? 'aes256-gcm96')];
            if (!type) throw new VaultError(400, `unknown key type ${String(body['type'])}`);
            if (!engine.keys.has(keyName(name))) engine.create(keyName(name), type);
            return { data: keyInfo(name, transitKey(name)) };
          },
        };
      }
    }
    if (method === 'POST' && (m = new RegExp(`^${transit}/keys/([\\w.-]+)/(config|rotate)$`).exec(path))) {
      const [, name, action] = m as unknown as [string, string, string];
      return {
        permission: 'create',
        run: (body) => {
          const key = transitKey(name);
          if (action === 'rotate') engine.rotate(key.name);
          else if (body['min_decryption_version'] !== undefined) {
            const min = Number(body['min_decryption_version']);
            if (!Number.isInteger(min) || min < 0 || min > key.versions.length) throw new VaultError(400, 'cannot set min decryption version above the latest version');
            key.meta['minDecryptionVersion'] = String(Math.max(1, min));
          }
          return { data: keyInfo(name, key) };
        },
      };
    }
    if (method === 'POST' && (m = new RegExp(`^${transit}/encrypt/([\\w.-]+)$`).exec(path))) {
      const name = m[1] as string;
      return {
        permission: 'encrypt',
        run: (body) => {
          // upsert, as Vault does for a caller allowed to create
          if (!engine.keys.has(keyName(name))) engine.create(keyName(name), 'aes-256-gcm');
          const key = transitKey(name);
          if (key.type !== 'aes-256-gcm') throw new VaultError(400, `key type ${key.type === 'ecdsa-p256' ? 'ecdsa-p256' : key.type} does not support encryption`);
          const aad = body['associated_data'] === undefined ? Buffer.alloc(0) : b64(body['associated_data'], 'associated_data');
          const { version, iv, sealed } = engine.encrypt(key.name, b64(body['plaintext'], 'plaintext'), aad);
          return { data: { ciphertext: `vault:v${version}:${Buffer.concat([iv, sealed]).toString('base64')}`, key_version: version } };
        },
      };
    }
    if (method === 'POST' && (m = new RegExp(`^${transit}/decrypt/([\\w.-]+)$`).exec(path))) {
      const name = m[1] as string;
      return {
        permission: 'decrypt',
        run: (body) => {
          const key = transitKey(name);
          if (key.type !== 'aes-256-gcm') throw new VaultError(400, 'key type ecdsa-p256 does not support decryption');
          const { version, bytes } = parseVersioned(body['ciphertext'], key);
          if (bytes.length < 28) throw new VaultError(400, 'invalid ciphertext: could not decode');
          const aad = body['associated_data'] === undefined ? Buffer.alloc(0) : b64(body['associated_data'], 'associated_data');
          try {
            return { data: { plaintext: engine.decrypt(key.name, version, bytes.subarray(0, 12), bytes.subarray(12), aad).toString('base64') } };
          } catch (error) {
            if (error instanceof SoftKmsError && error.reason === 'auth-failed') throw new VaultError(400, 'cipher: message authentication failed');
            throw error;
          }
        },
      };
    }
    if (method === 'POST' && (m = new RegExp(`^${transit}/sign/([\\w.-]+)(?:/([\\w-]+))?$`).exec(path))) {
      const [, name, hashInPath] = m as unknown as [string, string, string | undefined];
      return {
        permission: 'sign',
        run: (body) => {
          const key = transitKey(name);
          if (key.type !== 'ecdsa-p256') throw new VaultError(400, 'key type aes256-gcm96 does not support signing');
          const hash = hashInPath ?? String(body['hash_algorithm'] ?? 'sha2-256');
          if (hash !== 'sha2-256' || body['prehashed'] !== true) throw new VaultError(400, 'this test server signs prehashed sha2-256 input only');
          const { version, signature } = engine.signDigest(key.name, b64(body['input'], 'input'));
          if (body['marshaling_algorithm'] !== 'jws') throw new VaultError(400, 'this test server marshals signatures as jws only');
          return { data: { signature: `vault:v${version}:${Buffer.from(signature).toString('base64url')}`, key_version: version } };
        },
      };
    }
    if ((m = new RegExp(`^${kv}/(data|metadata)/(.+)$`).exec(path))) {
      const [, kind, secretPath] = m as unknown as [string, string, string];
      if (kind === 'data' && method === 'GET') {
        return {
          permission: 'describe',
          run: () => {
            const secret = secrets.get(secretPath) ?? notFound();
            const version = secret.versions.length;
            const latest = secret.versions[version - 1] as { data: Record<string, unknown>; created: string };
            return { data: { data: latest.data, metadata: { version, created_time: latest.created, deletion_time: '', destroyed: false } } };
          },
        };
      }
      if (kind === 'data' && (method === 'POST' || method === 'PUT')) {
        return {
          permission: 'create',
          run: (body) => {
            const data = body['data'];
            if (typeof data !== 'object' || data === null) throw new VaultError(400, 'no data provided');
            const secret = secrets.get(secretPath) ?? { versions: [] };
            const cas = (body['options'] as { cas?: unknown } | undefined)?.cas;
            if (cas !== undefined && Number(cas) !== secret.versions.length) {
              throw new VaultError(400, `check-and-set parameter did not match the current version`);
            }
            secret.versions.push({ data: data as Record<string, unknown>, created: new Date().toISOString() });
            secrets.set(secretPath, secret);
            return { data: { version: secret.versions.length, created_time: new Date().toISOString(), deletion_time: '', destroyed: false } };
          },
        };
      }
      if (kind === 'metadata' && method === 'GET') {
        return {
          permission: 'describe',
          run: () => {
            const secret = secrets.get(secretPath) ?? notFound();
            return { data: { current_version: secret.versions.length, oldest_version: 1, versions: Object.fromEntries(secret.versions.map((v, i) => [String(i + 1), { created_time: v.created, destroyed: false }])) } };
          },
        };
      }
    }
    return undefined;
  }

  const json = (status: number, payload: unknown): HttpAnswer => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  const errors = (status: number, message: string): HttpAnswer => json(status, { errors: [message] });

  const http = await startLoopbackHttp(async (request, body) => {
    const url = new URL(request.url ?? '/', 'http://vault');
    if (!url.pathname.startsWith('/v1/')) return errors(404, 'no handler for route');
    const path = url.pathname.slice(4);
    const handler = route(request.method ?? 'GET', path);
    if (!handler) return errors(404, `no handler for route "${path}"`);
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const token = String(request.headers['x-vault-token'] ?? bearer ?? '');
    if (handler.permission !== undefined && !tokens.has(token)) return errors(403, 'permission denied');
    const verdict = await faults.gate(path.split('/').slice(0, 2).join('/'), handler.permission);
    if (verdict === 'throttled') return errors(429, `request path "${path}": rate limit quota exceeded`);
    if (verdict === 'denied') return errors(403, '1 error occurred:\n\t* permission denied\n\n');
    let input: Record<string, unknown> = {};
    try {
      if (body.length > 0) input = JSON.parse(body.toString()) as Record<string, unknown>;
    } catch {
      return errors(400, 'failed to parse JSON input');
    }
    try {
      const out = handler.run(input);
      return out === undefined ? { status: 204 } : json(200, { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, wrap_info: null, warnings: null, ...out });
    } catch (error) {
      if (error instanceof VaultError) return errors(error.status, error.message);
      if (error instanceof SoftKmsError) return errors(400, error.message);
      return errors(500, String(error));
    }
  });

  const keyOf = (id: string): SoftKey => engine.get(keyName(id));
  return withFaultControls(faults, {
    url: http.url,
    token: rootToken,
    appRole,
    engine,
    // Vault has no disabled keys: an operator retires the versions in use by rotating and raising
    // min_decryption_version, after which Vault refuses their ciphertexts and signatures as disallowed by policy
    disableKey: (id) => {
      const key = keyOf(id);
      engine.rotate(key.name);
      key.meta['minDecryptionVersion'] = String(key.versions.length);
    },
    enableKey: (id) => {
      keyOf(id).meta['minDecryptionVersion'] = '1';
    },
    disablesVersionsOnly: true,
    close: () => http.close(),
  });
}

function notFound(): never {
  throw new VaultError(404, '');
}
