// SPDX-License-Identifier: Apache-2.0
// A Google Cloud KMS endpoint on loopback for tests: the gRPC service `google.cloud.kms.v1.KeyManagementService`
// loaded from the protos that @google-cloud/kms ships (the Node client's default transport), over TLS, each call
// authorised by its `authorization: Bearer` metadata. Resource names, CryptoKey / CryptoKeyVersion state,
// ENCRYPT_DECRYPT (GOOGLE_SYMMETRIC_ENCRYPTION) and ASYMMETRIC_SIGN (EC_SIGN_P256_SHA256) keys, gRPC status codes
// and messages as the service uses them, over SoftKms.
import { randomBytes } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ServerFaults, withFaultControls } from './control';
import type { KmsPermission, KmsTestControl } from './control';
import { SoftKms, SoftKmsError, p1363ToDer } from './soft-kms';
import type { SoftKey } from './soft-kms';

export interface GcpKmsServerOptions {
  /** Key state; one SoftKms shared by two servers acts as two regional endpoints of one location. */
  engine?: SoftKms;
  /** Server certificate and key (PEM), e.g. from `generateTestCertificates().server`. */
  tls: { cert: string; key: string };
}

export interface GcpKmsServer extends KmsTestControl {
  /** `host` and `port` for the client's `apiEndpoint` / `port`. */
  readonly host: string;
  readonly port: number;
  /** A key ring that exists: `projects/ecps-test/locations/us-east1/keyRings/ecps`. */
  readonly keyRing: string;
  /** The bearer token the server accepts. */
  readonly token: string;
  readonly engine: SoftKms;
}

class GcpError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

type Request = Record<string, unknown>;
type Handler = (request: Request) => Request;

const PERMISSION: Record<string, KmsPermission | undefined> = {
  CreateCryptoKey: 'create',
  UpdateCryptoKeyVersion: 'create',
  GetCryptoKey: 'describe',
  GetCryptoKeyVersion: 'describe',
  ListCryptoKeyVersions: 'describe',
  GetPublicKey: 'describe',
  AsymmetricSign: 'sign',
  Encrypt: 'encrypt',
  Decrypt: 'decrypt',
};

const IAM: Record<string, string> = {
  CreateCryptoKey: 'cloudkms.cryptoKeys.create',
  UpdateCryptoKeyVersion: 'cloudkms.cryptoKeyVersions.update',
  GetCryptoKey: 'cloudkms.cryptoKeys.get',
  GetCryptoKeyVersion: 'cloudkms.cryptoKeyVersions.get',
  ListCryptoKeyVersions: 'cloudkms.cryptoKeyVersions.list',
  GetPublicKey: 'cloudkms.cryptoKeyVersions.viewPublicKey',
  AsymmetricSign: 'cloudkms.cryptoKeyVersions.useToSign',
  Encrypt: 'cloudkms.cryptoKeyVersions.useToEncrypt',
  Decrypt: 'cloudkms.cryptoKeyVersions.useToDecrypt',
};

/** The KMS protos as @google-cloud/kms ships them, with google-gax's common protos for imports. */
function loadService(): grpc.ServiceDefinition {
  const require = createRequire(import.meta.url);
  const kmsDir = dirname(require.resolve('@google-cloud/kms/package.json'));
  // google-gax exports no package.json: its main module is build/src/index.js
  const gaxDir = join(dirname(createRequire(join(kmsDir, 'package.json')).resolve('google-gax')), '..', '..');
  const definition = protoLoader.loadSync('google/cloud/kms/v1/service.proto', {
    includeDirs: [join(kmsDir, 'build', 'protos'), join(gaxDir, 'build', 'protos')],
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { google: { cloud: { kms: { v1: { KeyManagementService: { service: grpc.ServiceDefinition } } } } } };
  return pkg.google.cloud.kms.v1.KeyManagementService.service;
}

/** Starts the server on 127.0.0.1 and an ephemeral port, TLS only. */
export async function startGcpKmsServer(options: GcpKmsServerOptions): Promise<GcpKmsServer> {
  const engine = options.engine ?? new SoftKms();
  const faults = new ServerFaults();
  const keyRing = 'projects/ecps-test/locations/us-east1/keyRings/ecps';
  const token = `ya29.${randomBytes(24).toString('base64url')}`;
  const engineName = (cryptoKey: string): string => `gcp/${cryptoKey}`;

  function cryptoKeyOf(name: unknown): { key: SoftKey; cryptoKey: string; version?: number } {
    const match = typeof name === 'string' ? /^(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+)(?:\/cryptoKeyVersions\/(\d+))?$/.exec(name) : null;
    if (!match) throw new GcpError(grpc.status.INVALID_ARGUMENT, `Invalid resource name ${String(name)}`);
    const cryptoKey = match[1] as string;
    const key = engine.keys.get(engineName(cryptoKey));
    if (!key) throw new GcpError(grpc.status.NOT_FOUND, `${cryptoKey} not found.`);
    const version = match[2] === undefined ? undefined : Number(match[2]);
    if (version !== undefined && !key.versions[version - 1]) throw new GcpError(grpc.status.NOT_FOUND, `${String(name)} not found.`);
    return { key, cryptoKey, ...(version === undefined ? {} : { version }) };
  }

  const algorithmOf = (key: SoftKey): string => (key.type === 'aes-256-gcm' ? 'GOOGLE_SYMMETRIC_ENCRYPTION' : 'EC_SIGN_P256_SHA256');
  const stateOf = (key: SoftKey, version: number): string => (key.enabled && key.versions[version - 1]?.enabled ? 'ENABLED' : 'DISABLED');
  const timestamp = (ms: number): Request => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

  function versionResource(key: SoftKey, cryptoKey: string, version: number): Request {
    return { name: `${cryptoKey}/cryptoKeyVersions/${version}`, state: stateOf(key, version), protectionLevel: 'SOFTWARE', algorithm: algorithmOf(key), createTime: timestamp(key.createdAt), generateTime: timestamp(key.createdAt) };
  }

  function cryptoKeyResource(key: SoftKey, cryptoKey: string): Request {
    const symmetric = key.type === 'aes-256-gcm';
    return {
      name: cryptoKey,
      purpose: symmetric ? 'ENCRYPT_DECRYPT' : 'ASYMMETRIC_SIGN',
      createTime: timestamp(key.createdAt),
      versionTemplate: { protectionLevel: 'SOFTWARE', algorithm: algorithmOf(key) },
      ...(symmetric ? { primary: versionResource(key, cryptoKey, key.primary) } : {}),
    };
  }

  /** The version `name` names (or the primary), enabled and of the right purpose, or the service's error. */
  function usableVersion(name: unknown, type: SoftKey['type'], purpose: string): { key: SoftKey; cryptoKey: string; version: number } {
    const { key, cryptoKey, version } = cryptoKeyOf(name);
    if (key.type !== type) {
      throw new GcpError(grpc.status.FAILED_PRECONDITION, `${String(name)} has purpose ${key.type === 'aes-256-gcm' ? 'ENCRYPT_DECRYPT' : 'ASYMMETRIC_SIGN'}, which does not support ${purpose}.`);
    }
    const v = version ?? key.primary;
    if (stateOf(key, v) !== 'ENABLED') throw new GcpError(grpc.status.FAILED_PRECONDITION, `${cryptoKey}/cryptoKeyVersions/${v} is not enabled, current state is: DISABLED.`);
    return { key, cryptoKey, version: v };
  }

  const bytes = (value: unknown): Buffer => (Buffer.isBuffer(value) ? value : Buffer.alloc(0));

  const handlers: Record<string, Handler> = {
    CreateCryptoKey(request) {
      const parent = String(request['parent'] ?? '');
      if (parent !== keyRing) throw new GcpError(grpc.status.NOT_FOUND, `KeyRing ${parent} not found.`);
      const id = String(request['cryptoKeyId'] ?? '');
      if (!/^[a-zA-Z0-9_-]{1,63}$/.test(id)) throw new GcpError(grpc.status.INVALID_ARGUMENT, 'crypto_key_id must match [a-zA-Z0-9_-]{1,63}');
      const spec = request['cryptoKey'] as { purpose?: string; versionTemplate?: { algorithm?: string } } | undefined;
      const purpose = spec?.purpose;
      const algorithm = spec?.versionTemplate?.algorithm ?? (purpose === 'ENCRYPT_DECRYPT' ? 'GOOGLE_SYMMETRIC_ENCRYPTION' : undefined);
      let type: SoftKey['type'];
      if (purpose === 'ENCRYPT_DECRYPT' && algorithm === 'GOOGLE_SYMMETRIC_ENCRYPTION') type = 'aes-256-gcm';
      else if (purpose === 'ASYMMETRIC_SIGN' && algorithm === 'EC_SIGN_P256_SHA256') type = 'ecdsa-p256';
      else throw new GcpError(grpc.status.INVALID_ARGUMENT, `purpose ${String(purpose)} with algorithm ${String(algorithm)} is not supported by this test server`);
      const cryptoKey = `${keyRing}/cryptoKeys/${id}`;
      if (engine.keys.has(engineName(cryptoKey))) throw new GcpError(grpc.status.ALREADY_EXISTS, `${cryptoKey} already exists.`);
      return cryptoKeyResource(engine.create(engineName(cryptoKey), type), cryptoKey);
    },
    GetCryptoKey(request) {
      const { key, cryptoKey } = cryptoKeyOf(request['name']);
      return cryptoKeyResource(key, cryptoKey);
    },
    GetCryptoKeyVersion(request) {
      const { key, cryptoKey, version } = cryptoKeyOf(request['name']);
      if (version === undefined) throw new GcpError(grpc.status.INVALID_ARGUMENT, 'a CryptoKeyVersion name is required');
      return versionResource(key, cryptoKey, version);
    },
    ListCryptoKeyVersions(request) {
      const { key, cryptoKey } = cryptoKeyOf(request['parent']);
      let versions = key.versions.map((v) => versionResource(key, cryptoKey, v.version));
      const filter = String(request['filter'] ?? '');
      if (filter !== '') {
        const state = /^state\s*=\s*(\w+)$/.exec(filter)?.[1];
        if (!state) throw new GcpError(grpc.status.INVALID_ARGUMENT, `this test server filters on state only, not ${filter}`);
        versions = versions.filter((v) => v['state'] === state);
      }
      return { cryptoKeyVersions: versions, totalSize: versions.length, nextPageToken: '' };
    },
    GetPublicKey(request) {
      const { key, cryptoKey, version } = cryptoKeyOf(request['name']);
      if (version === undefined) throw new GcpError(grpc.status.INVALID_ARGUMENT, 'a CryptoKeyVersion name is required');
      if (key.type !== 'ecdsa-p256') throw new GcpError(grpc.status.FAILED_PRECONDITION, `${String(request['name'])} has purpose ENCRYPT_DECRYPT, which has no public key.`);
      if (stateOf(key, version) !== 'ENABLED') throw new GcpError(grpc.status.FAILED_PRECONDITION, `${String(request['name'])} is not enabled, current state is: DISABLED.`);
      const spki = key.versions[version - 1]?.spki as Buffer;
      const pem = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) as string;
      return { pem, algorithm: 'EC_SIGN_P256_SHA256', name: `${cryptoKey}/cryptoKeyVersions/${version}`, protectionLevel: 'SOFTWARE' };
    },
    AsymmetricSign(request) {
      const { key, cryptoKey, version } = usableVersion(request['name'], 'ecdsa-p256', 'signing');
      const digest = (request['digest'] as { sha256?: Buffer } | undefined)?.sha256;
      if (!Buffer.isBuffer(digest) || digest.length !== 32) throw new GcpError(grpc.status.INVALID_ARGUMENT, 'The digest must be a SHA-256 digest for EC_SIGN_P256_SHA256.');
      const { signature } = engine.signDigest(key.name, digest, version);
      return { signature: p1363ToDer(signature), name: `${cryptoKey}/cryptoKeyVersions/${version}`, protectionLevel: 'SOFTWARE' };
    },
    Encrypt(request) {
      const { key, cryptoKey } = usableVersion(request['name'], 'aes-256-gcm', 'encryption');
      const plaintext = bytes(request['plaintext']);
      if (plaintext.length > 64 * 1024) throw new GcpError(grpc.status.INVALID_ARGUMENT, 'The plaintext must be at most 64KiB.');
      const { version, iv, sealed } = engine.encrypt(key.name, plaintext, bytes(request['additionalAuthenticatedData']));
      // opaque to clients: u32be version ‖ iv ‖ ciphertext+tag (the key is named by the request)
      const head = Buffer.alloc(4);
      head.writeUInt32BE(version);
      return { name: `${cryptoKey}/cryptoKeyVersions/${version}`, ciphertext: Buffer.concat([head, iv, sealed]), protectionLevel: 'SOFTWARE' };
    },
    Decrypt(request) {
      const { key } = cryptoKeyOf(request['name']);
      const blob = bytes(request['ciphertext']);
      const invalid = new GcpError(grpc.status.INVALID_ARGUMENT, 'Decryption failed: the ciphertext is invalid.');
      if (blob.length < 4 + 12 + 16) throw invalid;
      const version = blob.readUInt32BE(0);
      if (!key.versions[version - 1]) throw invalid;
      const { key: usable } = usableVersion(`${String(request['name'])}/cryptoKeyVersions/${version}`, 'aes-256-gcm', 'decryption');
      try {
        return { plaintext: engine.decrypt(usable.name, version, blob.subarray(4, 16), blob.subarray(16), bytes(request['additionalAuthenticatedData'])), usedPrimary: version === key.primary, protectionLevel: 'SOFTWARE' };
      } catch (error) {
        if (error instanceof SoftKmsError && error.reason === 'auth-failed') throw invalid;
        throw error;
      }
    },
    UpdateCryptoKeyVersion(request) {
      const version = request['cryptoKeyVersion'] as { name?: string; state?: string } | undefined;
      const paths = (request['updateMask'] as { paths?: string[] } | undefined)?.paths ?? [];
      const found = cryptoKeyOf(version?.name);
      if (found.version === undefined || !paths.includes('state') || (version?.state !== 'ENABLED' && version?.state !== 'DISABLED')) {
        throw new GcpError(grpc.status.INVALID_ARGUMENT, 'update_mask must be [state] and state ENABLED or DISABLED');
      }
      (found.key.versions[found.version - 1] as { enabled: boolean }).enabled = version.state === 'ENABLED';
      return versionResource(found.key, found.cryptoKey, found.version);
    },
  };

  const server = new grpc.Server();
  const service = loadService();
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, definition] of Object.entries(service)) {
    void definition;
    const rpc = method.charAt(0).toUpperCase() + method.slice(1);
    implementation[method] = (call: grpc.ServerUnaryCall<Request, Request>, callback: grpc.sendUnaryData<Request>) => {
      const handler = handlers[rpc];
      if (!handler) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: `${rpc} is not implemented by this test server` });
        return;
      }
      if (call.metadata.get('authorization')[0] !== `Bearer ${token}`) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'Request had invalid authentication credentials. Expected OAuth 2 access token.' });
        return;
      }
      faults.gate(rpc, PERMISSION[rpc]).then((verdict) => {
        if (call.cancelled) return;
        if (verdict === 'throttled') {
          callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: "Quota exceeded for quota metric 'Cryptographic requests' and limit 'Cryptographic requests per minute'." });
          return;
        }
        const target = String(call.request['name'] ?? call.request['parent'] ?? '');
        if (verdict === 'denied') {
          callback({ code: grpc.status.PERMISSION_DENIED, details: `Permission '${IAM[rpc] ?? rpc}' denied on resource '${target}' (or it may not exist).` });
          return;
        }
        try {
          callback(null, handler(call.request));
        } catch (error) {
          if (error instanceof GcpError) callback({ code: error.code, details: error.message });
          else if (error instanceof SoftKmsError) callback({ code: grpc.status.FAILED_PRECONDITION, details: error.message });
          else callback({ code: grpc.status.INTERNAL, details: String(error) });
        }
      }, (error: unknown) => callback({ code: grpc.status.INTERNAL, details: String(error) }));
    };
  }
  server.addService(service, implementation);
  const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));

  const keyOf = (id: string): SoftKey => engine.get(engineName(id.includes('/') ? id : `${keyRing}/cryptoKeys/${id}`));
  return withFaultControls(faults, {
    url: `127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    keyRing,
    token,
    engine,
    // GCP disables key versions; disabling the primary (the only version here) stops the key
    disableKey: (id) => {
      const key = keyOf(id);
      (key.versions[key.primary - 1] as { enabled: boolean }).enabled = false;
    },
    enableKey: (id) => {
      const key = keyOf(id);
      (key.versions[key.primary - 1] as { enabled: boolean }).enabled = true;
    },
    close: async () => {
      server.forceShutdown();
    },
  });
}
