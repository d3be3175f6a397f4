// SPDX-License-Identifier: Apache-2.0
// An AWS KMS endpoint on loopback for tests: the JSON 1.1 protocol (`POST /`, `X-Amz-Target: TrentService.<Op>`,
// `application/x-amz-json-1.1`), every request's Signature Version 4 checked against the server's own credentials
// (canonical request, scope, 15-minute clock skew), AWS error shapes (`__type`), key ids, ARNs and aliases, and real
// AES-256-GCM / P-256 ECDSA behind them (SoftKms).
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ServerFaults, startLoopbackHttp, withFaultControls } from './control';
import type { HttpAnswer, KmsPermission, KmsTestControl } from './control';
import { SoftKms, SoftKmsError, p1363ToDer } from './soft-kms';
import type { SoftKey } from './soft-kms';

export interface AwsKmsServerOptions {
  /** Key state; pass one SoftKms to two servers for two regions of one replicated service. */
  engine?: SoftKms;
  region?: string;
  accountId?: string;
  /** The only credentials the server accepts (default: fresh random ones, see the handle). */
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface AwsKmsServer extends KmsTestControl {
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly engine: SoftKms;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const PERMISSION: Record<string, KmsPermission | undefined> = {
  CreateKey: 'create',
  CreateAlias: 'create',
  DescribeKey: 'describe',
  GetPublicKey: 'describe',
  Sign: 'sign',
  Encrypt: 'encrypt',
  GenerateDataKey: 'encrypt',
  Decrypt: 'decrypt',
  DisableKey: 'create',
  EnableKey: 'create',
  ScheduleKeyDeletion: 'create',
};

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** Starts the server on 127.0.0.1 and an ephemeral port. */
export async function startAwsKmsServer(options: AwsKmsServerOptions = {}): Promise<AwsKmsServer> {
  const engine = options.engine ?? new SoftKms();
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '111122223333';
  const credentials = {
    accessKeyId: options.accessKeyId ?? `AKIA${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`,
    secretAccessKey: options.secretAccessKey ?? createHash('sha256').update(randomUUID()).digest('base64').slice(0, 40),
  };
  const faults = new ServerFaults();
  const aliases = engine.aliases; // alias/name -> key id (the SoftKms name), shared by the regions of one engine

  const arnOf = (keyId: string): string => `arn:aws:kms:${region}:${accountId}:key/${keyId}`;

  function resolve(keyId: unknown): SoftKey {
    if (typeof keyId !== 'string' || keyId.length === 0) throw new AwsError('ValidationException', 'KeyId is required');
    let id = keyId;
    const arn = /^arn:aws:kms:[^:]+:\d+:(key\/[^/]+|alias\/.+)$/.exec(keyId);
    if (arn) id = (arn[1] as string).startsWith('key/') ? (arn[1] as string).slice(4) : (arn[1] as string);
    if (id.startsWith('alias/')) {
      const target = aliases.get(id);
      if (!target) throw new AwsError('NotFoundException', `Alias ${arnOf(id).replace('key/', '')} is not found.`);
      id = target;
    }
    const key = engine.keys.get(id);
    if (!key) throw new AwsError('NotFoundException', `Key '${arnOf(id)}' does not exist`);
    return key;
  }

  function metadata(key: SoftKey): Record<string, unknown> {
    const symmetric = key.type === 'aes-256-gcm';
    return {
      AWSAccountId: accountId,
      KeyId: key.name,
      Arn: arnOf(key.name),
      CreationDate: key.createdAt / 1000,
      Enabled: key.enabled,
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      KeyUsage: symmetric ? 'ENCRYPT_DECRYPT' : 'SIGN_VERIFY',
      KeySpec: symmetric ? 'SYMMETRIC_DEFAULT' : 'ECC_NIST_P256',
      CustomerMasterKeySpec: symmetric ? 'SYMMETRIC_DEFAULT' : 'ECC_NIST_P256',
      KeyManager: 'CUSTOMER',
      Origin: 'AWS_KMS',
      MultiRegion: false,
      Description: key.meta['description'] ?? '',
      ...(symmetric ? { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] } : { SigningAlgorithms: ['ECDSA_SHA_256'] }),
    };
  }

  /** The AAD a ciphertext is bound to: the encryption context, keys sorted (order never matters to AWS). */
  function contextAad(context: unknown): Buffer {
    if (context === undefined || context === null) return Buffer.alloc(0);
    if (typeof context !== 'object' || Object.values(context).some((v) => typeof v !== 'string')) {
      throw new AwsError('ValidationException', 'EncryptionContext must map strings to strings');
    }
    const entries = Object.entries(context as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Buffer.from(JSON.stringify(entries));
  }

  function usable(key: SoftKey, usage: SoftKey['type']): void {
    if (!key.enabled) throw new AwsError('DisabledException', `${arnOf(key.name)} is disabled.`);
    if (key.type !== usage) {
      throw new AwsError('InvalidKeyUsageException', `You cannot use ${arnOf(key.name)} for this operation: its KeyUsage is ${String(metadata(key)['KeyUsage'])}.`);
    }
  }

  /** Our ciphertext blob: 0x01 ‖ u8 len ‖ key id ‖ u32be version ‖ iv(12) ‖ ciphertext+tag. Opaque to clients. */
  function encryptBlob(key: SoftKey, plaintext: Buffer, context: unknown): Buffer {
    usable(key, 'aes-256-gcm');
    const { version, iv, sealed } = engine.encrypt(key.name, plaintext, contextAad(context));
    const id = Buffer.from(key.name);
    const versionBytes = Buffer.alloc(4);
    versionBytes.writeUInt32BE(version);
    return Buffer.concat([Buffer.from([1, id.length]), id, versionBytes, iv, sealed]);
  }

  function decryptBlob(blob: Buffer, context: unknown, keyId: unknown): { key: SoftKey; plaintext: Buffer } {
    const invalid = (): never => {
      throw new AwsError('InvalidCiphertextException', '');
    };
    if (blob.length < 2 || blob[0] !== 1) invalid();
    const idLength = blob[1] as number;
    if (blob.length < 2 + idLength + 4 + 12 + 16) invalid();
    const name = blob.subarray(2, 2 + idLength).toString();
    const key = engine.keys.get(name) ?? invalid();
    if (keyId !== undefined && resolve(keyId).name !== name) throw new AwsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
    usable(key, 'aes-256-gcm');
    const version = blob.readUInt32BE(2 + idLength);
    const iv = blob.subarray(6 + idLength, 18 + idLength);
    try {
      return { key, plaintext: engine.decrypt(name, version, iv, blob.subarray(18 + idLength), contextAad(context)) };
    } catch (error) {
      if (error instanceof SoftKmsError && error.reason === 'auth-failed') invalid();
      throw error;
    }
  }

  const b64 = (value: unknown, field: string): Buffer => {
    if (typeof value !== 'string') throw new AwsError('ValidationException', `${field} is required`);
    return Buffer.from(value, 'base64');
  };

  const operations: Record<string, (input: Record<string, unknown>) => Record<string, unknown>> = {
    CreateKey(input) {
      const spec = input['KeySpec'] ?? input['CustomerMasterKeySpec'] ?? 'SYMMETRIC_DEFAULT';
      const usage = input['KeyUsage'] ?? 'ENCRYPT_DECRYPT';
      let type: SoftKey['type'];
      if (spec === 'SYMMETRIC_DEFAULT' && usage === 'ENCRYPT_DECRYPT') type = 'aes-256-gcm';
      else if (spec === 'ECC_NIST_P256' && usage === 'SIGN_VERIFY') type = 'ecdsa-p256';
      else throw new AwsError('ValidationException', `KeySpec ${String(spec)} with KeyUsage ${String(usage)} is not supported by this test server`);
      const key = engine.create(randomUUID(), type, { description: typeof input['Description'] === 'string' ? input['Description'] : '' });
      return { KeyMetadata: metadata(key) };
    },
    CreateAlias(input) {
      const name = input['AliasName'];
      if (typeof name !== 'string' || !/^alias\/[a-zA-Z0-9/_-]+$/.test(name) || name.startsWith('alias/aws/')) {
        throw new AwsError('ValidationException', 'AliasName must begin with alias/ and use only a-zA-Z0-9/_-');
      }
      if (aliases.has(name)) throw new AwsError('AlreadyExistsException', `An alias with the name ${arnOf(name).replace('key/', '')} already exists`);
      aliases.set(name, resolve(input['TargetKeyId']).name);
      return {};
    },
    DescribeKey: (input) => ({ KeyMetadata: metadata(resolve(input['KeyId'])) }),
    GetPublicKey(input) {
      const key = resolve(input['KeyId']);
      if (!key.enabled) throw new AwsError('DisabledException', `${arnOf(key.name)} is disabled.`);
      if (key.type !== 'ecdsa-p256') throw new AwsError('UnsupportedOperationException', `${arnOf(key.name)} key usage is ENCRYPT_DECRYPT which is not valid for GetPublicKey.`);
      const spki = key.versions[key.primary - 1]?.spki as Buffer;
      return { KeyId: arnOf(key.name), PublicKey: spki.toString('base64'), KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ['ECDSA_SHA_256'] };
    },
    Sign(input) {
      const key = resolve(input['KeyId']);
      usable(key, 'ecdsa-p256');
      if (input['SigningAlgorithm'] !== 'ECDSA_SHA_256') throw new AwsError('ValidationException', 'SigningAlgorithm must be ECDSA_SHA_256 for this key');
      let message = b64(input['Message'], 'Message');
      if ((input['MessageType'] ?? 'RAW') === 'RAW') {
        if (message.length > 4096) throw new AwsError('ValidationException', 'Message must be at most 4096 bytes');
        message = createHash('sha256').update(message).digest();
      } else if (message.length !== 32) throw new AwsError('ValidationException', 'Digest is invalid length for algorithm ECDSA_SHA_256.');
      const { signature } = engine.signDigest(key.name, message);
      return { KeyId: arnOf(key.name), Signature: p1363ToDer(signature).toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' };
    },
    Encrypt(input) {
      const key = resolve(input['KeyId']);
      const plaintext = b64(input['Plaintext'], 'Plaintext');
      if (plaintext.length < 1 || plaintext.length > 4096) throw new AwsError('ValidationException', 'Plaintext must be 1 to 4096 bytes');
      return { CiphertextBlob: encryptBlob(key, plaintext, input['EncryptionContext']).toString('base64'), KeyId: arnOf(key.name), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    GenerateDataKey(input) {
      const key = resolve(input['KeyId']);
      const bytes = input['KeySpec'] === 'AES_256' ? 32 : input['KeySpec'] === 'AES_128' ? 16 : Number(input['NumberOfBytes']);
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw new AwsError('ValidationException', 'KeySpec or NumberOfBytes is required');
      const plaintext = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)));
      return { CiphertextBlob: encryptBlob(key, plaintext, input['EncryptionContext']).toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: arnOf(key.name) };
    },
    Decrypt(input) {
      const { key, plaintext } = decryptBlob(b64(input['CiphertextBlob'], 'CiphertextBlob'), input['EncryptionContext'], input['KeyId']);
      return { KeyId: arnOf(key.name), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    DisableKey(input) {
      resolve(input['KeyId']).enabled = false;
      return {};
    },
    EnableKey(input) {
      resolve(input['KeyId']).enabled = true;
      return {};
    },
    ScheduleKeyDeletion(input) {
      const key = resolve(input['KeyId']);
      key.enabled = false;
      return { KeyId: arnOf(key.name), KeyState: 'PendingDeletion', DeletionDate: Date.now() / 1000 + 7 * 86400 };
    },
  };

  /** Checks the SigV4 signature of a request; throws the error AWS would answer with. */
  function verifySignature(request: IncomingMessage, body: Buffer): void {
    const auth = request.headers.authorization ?? '';
    const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!match) throw new AwsError('MissingAuthenticationTokenException', 'Missing or malformed Authentication Token');
    const [, accessKeyId, day, scopeRegion, service, signedHeaders, signature] = match as unknown as string[];
    if (accessKeyId !== credentials.accessKeyId) throw new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    const amzDate = String(request.headers['x-amz-date'] ?? '');
    const parsed = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!parsed || amzDate.slice(0, 8) !== day || scopeRegion !== region || service !== 'kms') {
      throw new AwsError('InvalidSignatureException', 'Credential should be scoped to a valid region and service, and to the date of X-Amz-Date.');
    }
    const [, y, mo, d, h, mi, s] = parsed.map(Number) as number[];
    if (Math.abs(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s) - Date.now()) > 15 * 60_000) {
      throw new AwsError('InvalidSignatureException', 'Signature expired: the request time is more than 15 minutes from the server time.');
    }
    const names = (signedHeaders as string).split(';');
    if (!names.includes('host') || !names.includes('x-amz-date')) throw new AwsError('InvalidSignatureException', 'host and x-amz-date must be signed');
    const canonicalHeaders = names
      .map((name) => {
        const value = request.headers[name];
        const text = Array.isArray(value) ? value.join(',') : (value ?? '');
        return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const url = new URL(request.url ?? '/', 'http://host');
    const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
    const canonicalRequest = [request.method, url.pathname, query, canonicalHeaders, signedHeaders, sha256Hex(body)].join('\n');
    const scope = `${day}/${region}/kms/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day as string), region), 'kms'), 'aws4_request');
    const expected = hmac(signingKey, stringToSign);
    if (!timingSafeEqual(expected, Buffer.from(signature as string, 'hex'))) {
      throw new AwsError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
    }
  }

  const answer = (status: number, payload: unknown): HttpAnswer => ({
    status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() },
    body: JSON.stringify(payload),
  });
  const fail = (type: string, message: string): HttpAnswer => ({
    ...answer(type === 'KMSInternalException' ? 500 : 400, { __type: type, message }),
  });

  const http = await startLoopbackHttp(async (request, body) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
    const run = operations[operation];
    if (request.method !== 'POST' || request.url !== '/' || !run) return fail('UnknownOperationException', `unknown operation ${target}`);
    if (!String(request.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
      return fail('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
    }
    try {
      verifySignature(request, body);
    } catch (error) {
      return fail((error as AwsError).type, (error as Error).message);
    }
    const verdict = await faults.gate(operation, PERMISSION[operation]);
    if (verdict === 'throttled') return fail('ThrottlingException', 'Rate exceeded');
    if (verdict === 'denied') {
      return fail('AccessDeniedException', `User: arn:aws:iam::${accountId}:user/test is not authorized to perform: kms:${operation} because no identity-based policy allows the kms:${operation} action`);
    }
    let input: Record<string, unknown>;
    try {
      input = body.length === 0 ? {} : (JSON.parse(body.toString()) as Record<string, unknown>);
    } catch {
      return fail('SerializationException', 'request body is not JSON');
    }
    try {
      return answer(200, run(input));
    } catch (error) {
      if (error instanceof AwsError) return fail(error.type, error.message);
      if (error instanceof SoftKmsError) return fail(error.reason === 'disabled' ? 'DisabledException' : 'ValidationException', error.message);
      return fail('KMSInternalException', String(error));
    }
  });

  const keyOf = (id: string): SoftKey => resolve(id.startsWith('alias/') || id.startsWith('arn:') ? id : `alias/${id}`);
  return withFaultControls(faults, {
    url: http.url,
    region,
    credentials,
    engine,
    disableKey: (id) => {
      keyOf(id).enabled = false;
    },
    enableKey: (id) => {
      keyOf(id).enabled = true;
    },
    close: () => {
      faults.resumeAnswering();
      return http.close();
    },
  });
}
