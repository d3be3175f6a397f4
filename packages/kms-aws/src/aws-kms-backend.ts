// SPDX-License-Identifier: Apache-2.0
// One AWS KMS region through @aws-sdk/client-kms: keys named by alias, ECDSA_SHA_256 over a digest, AES-256-GCM
// (SYMMETRIC_DEFAULT) with the AAD as encryption context, GenerateDataKey for data keys, AWS errors as typed errors.
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
} from '@aws-sdk/client-kms';
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import type { KeyAlgorithm } from '@ecps/core';
import {
  KmsError,
  KmsKeyDisabledError,
  KmsPermissionError,
  KmsThrottledError,
  KmsUnavailableError,
  ecdsaDerToP1363,
  networkFailure,
} from '@ecps/kms';
import type { GeneratedDataKey, KmsBackend, KmsCall, KmsKeyState, KmsOperation } from '@ecps/kms';

/** One region (or any endpoint speaking the AWS KMS API). */
export interface AwsKmsEndpoint {
  region: string;
  /** Override of the service URL (VPC endpoint, FIPS endpoint, a test server). */
  endpoint?: string;
  /** Default: the SDK's default chain (environment, SSO/shared config, web identity, ECS/EC2 instance roles). */
  credentials?: KMSClientConfig['credentials'];
}

/** Key ids given as they are; anything else is an alias name below `aliasPrefix`. */
const NATIVE_ID = /^(arn:aws[a-z-]*:kms:|alias\/|mrk-[0-9a-f]{32}$|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$)/;
const AAD_CONTEXT_KEY = 'ecps:aad';

const THROTTLED = new Set(['ThrottlingException', 'LimitExceededException', 'TooManyRequestsException', 'RequestLimitExceeded']);
const DENIED = new Set(['AccessDeniedException', 'AccessDenied']);
const UNAUTHENTICATED = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'MissingAuthenticationTokenException', 'ExpiredTokenException', 'InvalidClientTokenId']);
const DISABLED = new Set(['DisabledException', 'KMSInvalidStateException']);
const DECRYPTION = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
const MECHANISM = new Set(['InvalidKeyUsageException', 'UnsupportedOperationException']);
const UNAVAILABLE = new Set(['KMSInternalException', 'DependencyTimeoutException', 'ServiceUnavailableException', 'InternalFailure']);

/**
 * The AWS side of a {@link KmsBackend}. Our key id `x` is the alias `alias/<aliasPrefix>x`; ids that already are a
 * key id, a multi-Region key id (`mrk-...`), an ARN or an alias are used as they are.
 */
export class AwsKmsBackend implements KmsBackend {
  readonly kind = 'aws-kms';
  readonly endpoint: string;
  readonly algorithms: readonly KeyAlgorithm[] = ['aes-256-gcm', 'ecdsa-p256'];
  private readonly client: KMSClient;

  constructor(
    endpoint: AwsKmsEndpoint,
    private readonly aliasPrefix = '',
  ) {
    this.endpoint = endpoint.endpoint ?? endpoint.region;
    // one attempt per call: retries and failover are the provider's, with its own rules for what is idempotent
    this.client = new KMSClient({
      region: endpoint.region,
      maxAttempts: 1,
      ...(endpoint.endpoint ? { endpoint: endpoint.endpoint } : {}),
      ...(endpoint.credentials ? { credentials: endpoint.credentials } : {}),
    });
  }

  /** The KMS key id (alias, ARN or key id) for our id. */
  keyRef(id: string): string {
    return NATIVE_ID.test(id) ? id : `alias/${this.aliasPrefix}${id}`;
  }

  async createKey(id: string, algorithm: KeyAlgorithm, call: KmsCall): Promise<void> {
    const alias = this.keyRef(id);
    if (!alias.startsWith('alias/')) throw new KmsError('INVALID_ARGUMENT', `AWS assigns key ids; name the new key with an alias, not ${id}`);
    const symmetric = algorithm === 'aes-256-gcm';
    const created = await this.client.send(
      new CreateKeyCommand({
        KeySpec: symmetric ? 'SYMMETRIC_DEFAULT' : 'ECC_NIST_P256',
        KeyUsage: symmetric ? 'ENCRYPT_DECRYPT' : 'SIGN_VERIFY',
        Description: `ECPS ${algorithm} key ${id}`,
      }),
      { abortSignal: call.signal },
    );
    await this.client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata?.KeyId }), { abortSignal: call.signal });
  }

  async describeKey(id: string, call: KmsCall): Promise<KmsKeyState> {
    const { KeyMetadata: meta } = await this.client.send(new DescribeKeyCommand({ KeyId: this.keyRef(id) }), { abortSignal: call.signal });
    const enabled = meta?.KeyState === 'Enabled';
    if (meta?.KeySpec === 'SYMMETRIC_DEFAULT' && meta.KeyUsage === 'ENCRYPT_DECRYPT') return { algorithm: 'aes-256-gcm', enabled };
    if (meta?.KeySpec === 'ECC_NIST_P256' && meta.KeyUsage === 'SIGN_VERIFY') {
      const { PublicKey } = await this.client.send(new GetPublicKeyCommand({ KeyId: this.keyRef(id) }), { abortSignal: call.signal });
      if (!PublicKey) throw new KmsError('REMOTE_ERROR', `AWS KMS returned no public key for ${id}`);
      return { algorithm: 'ecdsa-p256', publicKey: PublicKey, enabled };
    }
    throw new KmsError('MECHANISM_UNSUPPORTED', `key ${id} is ${String(meta?.KeySpec)}/${String(meta?.KeyUsage)}, which ECPS does not use`);
  }

  async signDigest(id: string, digest: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { Signature } = await this.client.send(
      new SignCommand({ KeyId: this.keyRef(id), Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
      { abortSignal: call.signal },
    );
    return ecdsaDerToP1363(Signature ?? new Uint8Array(0));
  }

  async encrypt(id: string, plaintext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { CiphertextBlob } = await this.client.send(
      new EncryptCommand({ KeyId: this.keyRef(id), Plaintext: plaintext, EncryptionContext: context(aad) }),
      { abortSignal: call.signal },
    );
    if (!CiphertextBlob) throw new KmsError('REMOTE_ERROR', 'AWS KMS returned no ciphertext');
    return CiphertextBlob;
  }

  async decrypt(id: string, ciphertext: Uint8Array, aad: Uint8Array, call: KmsCall): Promise<Uint8Array> {
    const { Plaintext } = await this.client.send(
      new DecryptCommand({ KeyId: this.keyRef(id), CiphertextBlob: ciphertext, EncryptionContext: context(aad) }),
      { abortSignal: call.signal },
    );
    if (!Plaintext) throw new KmsError('REMOTE_ERROR', 'AWS KMS returned no plaintext');
    return Plaintext;
  }

  async generateDataKey(id: string, aad: Uint8Array, call: KmsCall): Promise<GeneratedDataKey> {
    const out = await this.client.send(
      new GenerateDataKeyCommand({ KeyId: this.keyRef(id), KeySpec: 'AES_256', EncryptionContext: context(aad) }),
      { abortSignal: call.signal },
    );
    if (!out.Plaintext || !out.CiphertextBlob) throw new KmsError('REMOTE_ERROR', 'AWS KMS returned no data key');
    return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob };
  }

  classify(error: unknown, operation: KmsOperation): KmsError {
    const details = { kind: this.kind, endpoint: this.endpoint, operation };
    const name = (error as { name?: unknown }).name;
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const message = `AWS KMS ${operation}: ${String((error as Error).message ?? name)}`;
    const withCode = { details: { ...details, serviceCode: name, status } };
    if (typeof name === 'string') {
      if (THROTTLED.has(name)) return new KmsThrottledError(message, withCode);
      if (DENIED.has(name)) return new KmsPermissionError(message, withCode);
      if (UNAUTHENTICATED.has(name)) return new KmsError('UNAUTHENTICATED', message, withCode);
      if (DISABLED.has(name)) return new KmsKeyDisabledError(message, withCode);
      if (name === 'NotFoundException') return new KmsError('KEY_NOT_FOUND', message, withCode);
      if (DECRYPTION.has(name)) return new KmsError('DECRYPTION_FAILED', message, withCode);
      if (MECHANISM.has(name)) return new KmsError('MECHANISM_UNSUPPORTED', message, withCode);
      if (name === 'AlreadyExistsException') return new KmsError('ALREADY_EXISTS', message, withCode);
      if (name === 'ValidationException') return new KmsError('INVALID_ARGUMENT', message, withCode);
      if (UNAVAILABLE.has(name)) return new KmsUnavailableError(message, withCode);
    }
    const network = networkFailure(error, details);
    if (network) return network;
    if (status !== undefined && status >= 500) return new KmsUnavailableError(message, withCode);
    return new KmsError('REMOTE_ERROR', message, withCode);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** The AAD as encryption context (AWS binds it to the ciphertext; it must be given again to decrypt). */
function context(aad: Uint8Array): Record<string, string> | undefined {
  return aad.length === 0 ? undefined : { [AAD_CONTEXT_KEY]: Buffer.from(aad).toString('base64') };
}
