// SPDX-License-Identifier: Apache-2.0
// A HardwareSecurityProvider over a TPM 2.0: signing keys created under the owner hierarchy's storage root (they
// never leave the TPM), an endorsement key, attestation keys, PCR measurements and quotes wrapped in the spec's
// attestation report.
import { createHash } from 'node:crypto';
import {
  cryptoRandom,
  systemClock,
  type AttestationEvidence,
  type Clock,
  type HardwareSecurityProvider,
  type KeyAlgorithm,
  type KeyInfo,
  type RandomSource,
} from '@ecps/core';
import { TrustError, attestationDeviceId, attestationSigningInput, publicKeyObject, signatureAlgorithmOf, verifyWithKeyObject } from '@ecps/trust';
import { TPM_ALG, TPM_HANDLE_RANGE, TPM_RH } from './constants';
import type { Credential } from './credential';
import { TpmError, baseResponseCode } from './errors';
import { readKeyFile, writeKeyFile, type StoredKey } from './key-file';
import { MAX_MEASUREMENTS, checkMeasurement, measurementDigest, type Measurement } from './measured-boot';
import { checkPcrIndexes } from './pcr-selection';
import {
  attestationKeyTemplate,
  endorsementKeyTemplate,
  marshalPublic,
  parsePublic,
  signingKeyTemplate,
  spkiOf,
  storageRootTemplate,
} from './public-area';
import { ecdsaRawSignature, parseAttest, parseSignature, pcrDigest } from './quote';
import { encodeQuoteMeasurements } from './report';
import { Tpm, passwordAuth } from './tpm';
import type { TpmTransport } from './transport';

export interface TpmKeyProviderOptions {
  transport: TpmTransport;
  /** JSON file keeping the wrapped keys between runs (created on first `generateKey`). Default: memory only. */
  keyFile?: string;
  /** Authorization value of the owner hierarchy (empty by default, as on a fresh TPM). */
  ownerAuth?: Uint8Array;
  /** Authorization value of the endorsement hierarchy (empty by default). */
  endorsementAuth?: Uint8Array;
  /**
   * On open, flush transient objects and sessions left loaded by a process that died (a TPM without a resource
   * manager keeps them, and has only a few slots). Default true; turn off when other programs share the TPM
   * without a resource manager.
   */
  flushStale?: boolean;
  /** Measurements already extended into this TPM since its last reset (a log kept by the caller). */
  measurements?: readonly Measurement[];
  clock?: Clock;
  random?: RandomSource;
}

/** An attestation key of this TPM: what a verifier enrols (see `enrollAttestationKey`). */
export interface AttestationKeyInfo {
  readonly label: string;
  /** TPMT_PUBLIC. */
  readonly publicArea: Uint8Array;
  readonly name: Uint8Array;
  /** As the TPM reports it (TPM2_ReadPublic); every quote of this key carries it. */
  readonly qualifiedName: Uint8Array;
  /** SubjectPublicKeyInfo DER. */
  readonly publicKey: Uint8Array;
  /** The spec's `device_id` of its reports. */
  readonly deviceId: string;
}

/** The endorsement key (TCG default ECC template): the TPM's identity, to which credentials are encrypted. */
export interface EndorsementKeyInfo {
  readonly publicArea: Uint8Array;
  readonly name: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface AttestOptions {
  /** SHA-256 PCRs to quote. Default: those the measurement log covers. */
  pcrs?: readonly number[];
}

const LABEL = /^[A-Za-z0-9._:-]{1,128}$/;
// A transient handle that no longer exists (the TPM was reset): TPM_RC_REFERENCE_H0..H6, TPM_RC_HANDLE.
const STALE_HANDLE = (e: unknown) => e instanceof TpmError && ((e.rc >= 0x910 && e.rc <= 0x916) || baseResponseCode(e.rc) === 0x08b);

function checkLabel(kind: string, value: string): void {
  if (typeof value !== 'string' || !LABEL.test(value)) throw new TrustError('INVALID_ARGUMENT', `${kind} ${JSON.stringify(value)} must be 1..128 of A-Za-z0-9._:-`);
}

/**
 * TPM 2.0 keys through a TypeScript command marshaller (no native code, no tpm2-tss). Open with
 * {@link TpmKeyProvider.open}; every operation is one exclusive sequence of TPM commands that flushes what it
 * loaded, so at most three objects are ever loaded (the storage root, the key, a hash sequence).
 */
export class TpmKeyProvider implements HardwareSecurityProvider {
  readonly kind = 'tpm';
  private srk: number | undefined;
  private closed = false;
  private readonly akCache = new Map<string, AttestationKeyInfo>();
  private ek: EndorsementKeyInfo | undefined;
  private readonly log: Measurement[];
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly ownerAuth: Uint8Array;
  private readonly endorsementAuth: Uint8Array;

  private constructor(
    private readonly tpm: Tpm,
    private readonly keys: Map<string, StoredKey>,
    private readonly options: TpmKeyProviderOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.ownerAuth = options.ownerAuth ?? new Uint8Array(0);
    this.endorsementAuth = options.endorsementAuth ?? new Uint8Array(0);
    this.log = (options.measurements ?? []).map((m) => checkMeasurement({ ...m }));
  }

  /**
   * Connects: TPM2_Startup (a started TPM is fine), flushes stale objects (see `flushStale`), reads the key file.
   * @throws TpmError `UNAVAILABLE` when the TPM cannot be reached; TrustError `DECODE_ERROR` for a bad key file.
   */
  static async open(options: TpmKeyProviderOptions): Promise<TpmKeyProvider> {
    const tpm = new Tpm(options.transport, options.clock ? { clock: options.clock } : {});
    try {
      const keys = options.keyFile ? await readKeyFile(options.keyFile) : new Map<string, StoredKey>();
      await tpm.startup();
      if (options.flushStale ?? true) {
        for (const range of [TPM_HANDLE_RANGE.TRANSIENT, TPM_HANDLE_RANGE.LOADED_SESSION]) {
          for (const handle of await tpm.handles(range)) await tpm.flush(handle);
        }
      }
      return new TpmKeyProvider(tpm, keys, options);
    } catch (error) {
      await options.transport.close();
      throw error;
    }
  }

  /** Flushes the storage root and closes the transport. Later calls fail with `CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tpm.exclusive(async () => {
      if (this.srk !== undefined) await this.tpm.flush(this.srk).catch(() => undefined);
      this.srk = undefined;
    });
    await this.tpm.transport.close();
  }

  /** Runs `operation` alone on the TPM; loaded objects it makes are its to flush. */
  private run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TpmError('CLOSED', 'TPM provider closed'));
    return this.tpm.exclusive(operation);
  }

  /** Runs `use` with the storage root loaded (recreated from the owner seed when the TPM lost it, e.g. after a reset). */
  private async withStorageRoot<T>(use: (srk: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.srk ??= (await this.tpm.createPrimary(TPM_RH.OWNER, passwordAuth(this.ownerAuth), marshalPublic(storageRootTemplate()))).handle;
      try {
        return await use(this.srk);
      } catch (error) {
        if (attempt > 0 || !STALE_HANDLE(error)) throw error;
        this.srk = undefined;
      }
    }
  }

  private async withLoaded<T>(handle: number, use: (handle: number) => Promise<T>): Promise<T> {
    try {
      return await use(handle);
    } finally {
      await this.tpm.flush(handle).catch(() => undefined);
    }
  }

  private stored(id: string): StoredKey {
    const key = this.keys.get(id);
    if (!key) throw new TrustError('KEY_NOT_FOUND', `no TPM key ${id}`, { details: { keyId: id } });
    return key;
  }

  private info(id: string, key: StoredKey): KeyInfo {
    return { id, algorithm: key.algorithm, publicKey: spkiOf(parsePublic(key.publicArea)), extractable: false };
  }

  /**
   * Creates an ECDSA P-256 or RSA-2048 PSS signing key in the TPM under the storage root (fixedTPM, fixedParent,
   * sensitiveDataOrigin: generated inside, never exported, never duplicated) and keeps its wrapped form.
   * @throws TrustError `ALREADY_EXISTS`, `MECHANISM_UNSUPPORTED` (other algorithms), `INVALID_ARGUMENT` (bad id).
   */
  async generateKey(id: string, algorithm: KeyAlgorithm): Promise<KeyInfo> {
    checkLabel('key id', id);
    if (algorithm !== 'ecdsa-p256' && algorithm !== 'rsa-pss-2048') {
      throw new TrustError('MECHANISM_UNSUPPORTED', `the TPM provider makes ecdsa-p256 and rsa-pss-2048 keys, not ${algorithm}`);
    }
    return this.run(async () => {
      if (this.keys.has(id)) throw new TrustError('ALREADY_EXISTS', `TPM key ${id} exists`, { details: { keyId: id } });
      const created = await this.withStorageRoot((srk) => this.tpm.create(srk, passwordAuth(this.ownerAuth), marshalPublic(signingKeyTemplate(algorithm))));
      const key: StoredKey = { algorithm, ...created };
      const next = new Map(this.keys).set(id, key);
      if (this.options.keyFile) await writeKeyFile(this.options.keyFile, next);
      this.keys.set(id, key);
      return this.info(id, key);
    });
  }

  async getKey(id: string): Promise<KeyInfo> {
    return this.info(id, this.stored(id));
  }

  async hasKey(id: string): Promise<boolean> {
    return this.keys.has(id);
  }

  /**
   * Signs inside the TPM: ECDSA P-256 over SHA-256 (r‖s, 64 bytes) or RSA-PSS SHA-256 (the TPM picks the salt
   * length; verifiers auto-detect it). @throws TrustError `KEY_NOT_FOUND`; TpmError when the TPM refuses.
   */
  async sign(id: string, data: Uint8Array): Promise<Uint8Array> {
    const key = this.stored(id);
    const digest = createHash('sha256').update(data).digest();
    return this.run(() =>
      this.withStorageRoot(async (srk) => {
        const { handle } = await this.tpm.load(srk, passwordAuth(this.ownerAuth), key.privateArea, key.publicArea);
        const signature = parseSignature(await this.withLoaded(handle, (h) => this.tpm.sign(h, passwordAuth(), digest)));
        return signature.alg === 'ecdsa' ? ecdsaRawSignature(signature) : signature.signature;
      }),
    );
  }

  /** Verifies in software with the key's public part (no TPM round trip). */
  async verify(id: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const info = this.info(id, this.stored(id));
    return verifyWithKeyObject(signatureAlgorithmOf(info.algorithm), publicKeyObject(info.algorithm, info.publicKey!), data, signature);
  }

  /** @throws TrustError `MECHANISM_UNSUPPORTED`: TPMs have no AES-GCM (use a software or KMS provider for data). */
  async encrypt(): Promise<never> {
    throw new TrustError('MECHANISM_UNSUPPORTED', 'TPM 2.0 has no AES-GCM; encrypt with a software or KMS key');
  }

  /** @throws TrustError `MECHANISM_UNSUPPORTED` (see `encrypt`). */
  async decrypt(): Promise<never> {
    throw new TrustError('MECHANISM_UNSUPPORTED', 'TPM 2.0 has no AES-GCM; decrypt with a software or KMS key');
  }

  /** The endorsement key's public part (derived from the endorsement seed; the same on every call). */
  async endorsementKey(): Promise<EndorsementKeyInfo> {
    if (this.ek) return this.ek;
    const ek = await this.run(async () => {
      const created = await this.tpm.createPrimary(TPM_RH.ENDORSEMENT, passwordAuth(this.endorsementAuth), marshalPublic(endorsementKeyTemplate()));
      await this.tpm.flush(created.handle);
      return { publicArea: created.publicArea, name: created.name, publicKey: spkiOf(parsePublic(created.publicArea)) };
    });
    this.ek = ek;
    return ek;
  }

  /** The attestation key `label` (a primary key of the owner hierarchy: the same key for the same label and seed). */
  async attestationKey(label = 'ak'): Promise<AttestationKeyInfo> {
    checkLabel('attestation key label', label);
    const cached = this.akCache.get(label);
    if (cached) return cached;
    const info = await this.run(() => this.withAttestationKey(label, async (handle, created) => {
      const { qualifiedName } = await this.tpm.readPublic(handle);
      const publicKey = spkiOf(parsePublic(created.publicArea));
      return { label, publicArea: created.publicArea, name: created.name, qualifiedName, publicKey, deviceId: attestationDeviceId({ algorithm: 'ecdsa-p256', publicKey }) };
    }));
    this.akCache.set(label, info);
    return info;
  }

  private async withAttestationKey<T>(label: string, use: (handle: number, created: { publicArea: Uint8Array; name: Uint8Array }) => Promise<T>): Promise<T> {
    const created = await this.tpm.createPrimary(TPM_RH.OWNER, passwordAuth(this.ownerAuth), marshalPublic(attestationKeyTemplate(label)));
    return this.withLoaded(created.handle, (h) => use(h, created));
  }

  /**
   * TPM2_ActivateCredential with the endorsement key: recovers the secret a verifier encrypted with
   * `makeCredential(ek, akName, secret)`, which only this TPM can do, and only for its own AK `label`.
   * @throws TpmError `DECRYPTION_FAILED` for a credential made for another TPM or another key.
   */
  async activateCredential(label: string, credential: Credential): Promise<Uint8Array> {
    checkLabel('attestation key label', label);
    return this.run(async () => {
      const ek = await this.tpm.createPrimary(TPM_RH.ENDORSEMENT, passwordAuth(this.endorsementAuth), marshalPublic(endorsementKeyTemplate()));
      return this.withLoaded(ek.handle, () =>
        this.withAttestationKey(label, async (ak) => {
          const session = await this.tpm.startPolicySession(this.random.bytes(16));
          try {
            await this.tpm.policySecret(TPM_RH.ENDORSEMENT, passwordAuth(this.endorsementAuth), session);
            const policy = { handle: session, nonce: this.random.bytes(16) };
            return await this.tpm.activateCredential(ak, passwordAuth(), ek.handle, policy, credential.credentialBlob, credential.encryptedSecret);
          } finally {
            await this.tpm.flush(session).catch(() => undefined); // gone already when the command succeeded
          }
        }),
      );
    });
  }

  /** The measurements extended through this provider (and those it was opened with), in order. */
  get measurements(): readonly Measurement[] {
    return [...this.log];
  }

  /**
   * Measures a boot stage: extends SHA-256 of `data` into SHA-256 PCR `pcr` and appends it to the log.
   * @throws TrustError `INVALID_ARGUMENT` (name, PCR), `RESOURCE_EXHAUSTED` past {@link MAX_MEASUREMENTS}; TpmError
   *   when the TPM refuses (e.g. a PCR this locality may not extend).
   */
  async measure(name: string, pcr: number, data: Uint8Array | string): Promise<Measurement> {
    const m = checkMeasurement({ name, pcr, digest: measurementDigest(data) });
    if (this.log.length >= MAX_MEASUREMENTS) throw new TrustError('RESOURCE_EXHAUSTED', `measurement log full (${MAX_MEASUREMENTS})`);
    await this.run(async () => {
      await this.tpm.pcrExtend(pcr, passwordAuth(), TPM_ALG.SHA256, Buffer.from(m.digest, 'hex'));
      this.log.push(m); // in the same exclusive step, so a quote never sees the PCR without its log entry
    });
    return m;
  }

  /** Current SHA-256 PCR values. */
  async readPcrs(pcrs: readonly number[]): Promise<Map<number, Uint8Array>> {
    checkPcrIndexes(pcrs);
    return this.run(() => this.pcrValues(pcrs));
  }

  private async pcrValues(pcrs: readonly number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    const sorted = [...pcrs].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; i += 8) {
      const { selection, values } = await this.tpm.pcrRead([{ hash: TPM_ALG.SHA256, pcrs: sorted.slice(i, i + 8) }]);
      const answered = selection[0]?.pcrs ?? [];
      if (answered.length !== values.length) throw new TpmError('INTERNAL', 'TPM2_PCR_Read answered fewer PCRs than selected');
      answered.forEach((pcr, j) => out.set(pcr, values[j]!));
    }
    if (out.size !== sorted.length) throw new TpmError('INTERNAL', 'TPM2_PCR_Read did not answer every PCR');
    return out;
  }

  /**
   * A TPM quote of SHA-256 PCRs with `nonce` in extraData, signed by attestation key `keyId` (a label), wrapped in
   * the spec's attestation report (`tpm_quote`): the measurements map carries the PCR values, the measurement log
   * and the TPM's TPMS_ATTEST and TPMT_SIGNATURE; the report itself is signed by the same AK over the RFC 8785
   * form (hashed inside the TPM, whose ticket lets a restricted key sign it), so `verifyAttestation` of
   * `@ecps/trust` accepts it with the AK as the device key and `verifyQuoteReport` checks the quote.
   * @throws TrustError `INVALID_ARGUMENT` (nonce not 32..64 bytes, no PCR to quote).
   */
  async attest(keyId: string, nonce: Uint8Array, options: AttestOptions = {}): Promise<AttestationEvidence> {
    checkLabel('attestation key label', keyId);
    if (nonce.length < 32 || nonce.length > 64) throw new TrustError('INVALID_ARGUMENT', 'attestation nonces are 32..64 bytes');
    const pcrs = [...new Set(options.pcrs ?? this.log.map((m) => m.pcr))].sort((a, b) => a - b);
    if (pcrs.length === 0) throw new TrustError('INVALID_ARGUMENT', 'nothing to quote: no measurements and no pcrs given');
    checkPcrIndexes(pcrs);
    const ak = await this.attestationKey(keyId);
    return this.run(() =>
      this.withAttestationKey(keyId, async (handle) => {
        // Read the PCRs, quote, and check the quote is of what was read (another TPM user may extend in between).
        const log = [...this.log];
        for (let attempt = 0; ; attempt++) {
          const values = await this.pcrValues(pcrs);
          const quote = await this.tpm.quote(handle, passwordAuth(), nonce, [{ hash: TPM_ALG.SHA256, pcrs }]);
          const signed = parseAttest(quote.attest);
          const hash = parseSignature(quote.signature).hash;
          const digest = pcrDigest(hash, pcrs.map((p) => values.get(p)!));
          if (!Buffer.from(digest).equals(Buffer.from(signed.quote?.pcrDigest ?? []))) {
            if (attempt < 3) continue;
            throw new TpmError('UNAVAILABLE', 'PCRs kept changing while quoting');
          }
          const body = {
            type: 'tpm_quote' as const,
            deviceId: ak.deviceId,
            nonce: new Uint8Array(nonce),
            timestamp: this.clock.now() / 1000,
            measurements: encodeQuoteMeasurements({ pcrs: values, log, attest: quote.attest, signature: quote.signature }),
          };
          const { digest: reportDigest, ticket } = await this.tpm.hashInTpm(attestationSigningInput(body), TPM_RH.OWNER);
          const signature = ecdsaRawSignature(parseSignature(await this.tpm.sign(handle, passwordAuth(), reportDigest, ticket)));
          return { ...body, signature };
        }
      }),
    );
  }
}
