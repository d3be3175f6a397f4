// SPDX-License-Identifier: Apache-2.0
// The contract every KMS key provider passes (Jest): the KeyProvider operations, envelope encryption of the action
// log and of sealed messages, and, against a test server that can inject them, the typed errors and the retry
// rules. Published as `@ecps/kms/contract` so that each cloud package (and anyone writing another backend) runs the
// same suite; it lives here rather than in @ecps/testkit because it needs this package, which testkit cannot
// depend on without a cycle.
import { createPublicKey, randomUUID, verify as cryptoVerify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Logger } from '@ecps/core';
import { readEaplog } from '@ecps/eaplog';
import { DataKeyCache } from './data-key-cache';
import { EnvelopeActionLog } from './envelope-log';
import { KmsError } from './errors';
import type { KmsKeyProvider } from './kms-key-provider';
import { openWithDataKey, sealWithDataKey } from './sealed';

/** The fault controls of a KMS test server (what `@ecps/testkit`'s servers offer). */
export interface KmsFaultControl {
  /** Throttle the next `n` requests (replacing any count left; 0 ends it). */
  throttleNext(n: number): void;
  stopAnswering(): void;
  resumeAnswering(): void;
  revoke(permission: 'create' | 'describe' | 'sign' | 'encrypt' | 'decrypt'): void;
  grant(permission: 'create' | 'describe' | 'sign' | 'encrypt' | 'decrypt'): void;
  disableKey(id: string): void;
  enableKey(id: string): void;
  /** True where a service disables key versions, not keys (Vault): new encryptions still work. */
  readonly disablesVersionsOnly?: boolean;
  readonly counts: ReadonlyMap<string, number>;
}

export interface KmsContractOptions {
  /** Shown in the suite name, e.g. `AWS KMS test server`. */
  name: string;
  /**
   * The provider under test, built once with the given `logger` (the suite checks what it is told). For the fault
   * cases to finish quickly, give it a short attempt timeout (under 1 s), at least 3 attempts and millisecond backoff.
   */
  provider: (context: { logger: Logger }) => Promise<KmsKeyProvider>;
  /** The credentials the provider holds (secret key, token, ...): none may appear in an error or a log line. */
  secrets?: () => readonly string[];
  /** A test server's controls; without them (a real endpoint) the fault cases are skipped and say so. */
  control?: () => KmsFaultControl;
  /** Removes the keys the suite created (real endpoints); called with the provider's ids. */
  cleanup?: (provider: KmsKeyProvider, keyIds: readonly string[]) => Promise<void>;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const total = (control: KmsFaultControl): number => [...control.counts.values()].reduce((a, b) => a + b, 0);

/** The provider with every rejection it produces recorded (the suite's own calls and those of the data key caches). */
function recordingErrors(provider: KmsKeyProvider, errors: unknown[]): KmsKeyProvider {
  return new Proxy(provider, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) result.catch((error: unknown) => errors.push(error));
        return result;
      };
    },
  });
}

/** Every string reachable from `value` (own properties, enumerable or not, `message`, `stack` and `cause` included). */
function reachableText(value: unknown, seen = new Set<unknown>(), depth = 0): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object' || seen.has(value) || depth > 6) return String(value);
  seen.add(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  return Object.getOwnPropertyNames(value)
    .map((name) => `${name}=${reachableText((value as Record<string, unknown>)[name], seen, depth + 1)}`)
    .join('\n');
}

/** Registers the suite. Creates two keys (`ecps-contract-<uuid>-aes`, `-p256`) and, with controls, one more. */
export function describeKmsContract(options: KmsContractOptions): void {
  describe(`KMS key provider contract: ${options.name}`, () => {
    const run = `ecps-contract-${randomUUID().slice(0, 8)}`;
    const aes = `${run}-aes`;
    const p256 = `${run}-p256`;
    const created: string[] = [];
    const errors: unknown[] = [];
    const logged: unknown[] = [];
    const record = (level: string) => (message: string, fields?: Record<string, unknown>) => logged.push({ level, message, fields });
    const logger: Logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
    let kms: KmsKeyProvider;

    beforeAll(async () => {
      kms = recordingErrors(await options.provider({ logger }), errors);
      for (const [id, algorithm] of [[aes, 'aes-256-gcm'], [p256, 'ecdsa-p256']] as const) {
        const info = await kms.generateKey(id, algorithm);
        created.push(id);
        expect(info).toMatchObject({ id, algorithm, extractable: false });
      }
    });

    afterAll(async () => {
      if (kms && options.cleanup) await options.cleanup(kms, created);
      await kms?.close();
    });

    it('describes keys and says which do not exist', async () => {
      expect(await kms.hasKey(aes)).toBe(true);
      expect(await kms.hasKey(`${run}-missing`)).toBe(false);
      await expect(kms.getKey(`${run}-missing`)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
      expect((await kms.getKey(p256)).publicKey?.length).toBeGreaterThan(60);
      expect((await kms.getKey(aes)).publicKey).toBeUndefined();
    });

    it('encrypts with AES-256-GCM in the service; any change to ciphertext, nonce or AAD fails', async () => {
      const aad = text('record-7');
      const sealed = await kms.encrypt(aes, { plaintext: text('open the gripper'), aad });
      expect(sealed.nonce).toHaveLength(12);
      expect(await kms.decrypt(aes, { ...sealed, aad })).toEqual(text('open the gripper'));
      const flipped = new Uint8Array(sealed.ciphertext);
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
      await expect(kms.decrypt(aes, { ...sealed, ciphertext: flipped, aad })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await expect(kms.decrypt(aes, { ...sealed, aad: text('record-8') })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await expect(kms.decrypt(aes, { ...sealed, nonce: new Uint8Array(12), aad })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await expect(kms.encrypt(aes, { plaintext: text('x'), nonce: new Uint8Array(12) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('wraps data keys; a wrapped key never opens as a message', async () => {
      const key = new Uint8Array(32).fill(7);
      const wrapped = await kms.wrapKey(aes, key);
      expect(await kms.unwrapKey(aes, wrapped)).toEqual(key);
      await expect(kms.decrypt(aes, { nonce: wrapped.subarray(0, 12), ciphertext: wrapped.subarray(12) })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      const generated = await kms.generateDataKey(aes);
      expect(generated.plaintext).toHaveLength(32);
      expect(await kms.unwrapKey(aes, generated.wrapped)).toEqual(generated.plaintext);
    });

    it('signs ECDSA P-256 in the service; signatures verify with node:crypto and the exported key', async () => {
      const data = text('boot measurements');
      const signature = await kms.sign(p256, data);
      expect(signature).toHaveLength(64);
      const publicKey = createPublicKey({ key: Buffer.from((await kms.getKey(p256)).publicKey as Uint8Array), format: 'der', type: 'spki' });
      expect(cryptoVerify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
      expect(await kms.verify(p256, data, signature)).toBe(true);
      expect(await kms.verify(p256, text('boot measurementz'), signature)).toBe(false);
    });

    it('refuses operations a key was not made for', async () => {
      await expect(kms.sign(aes, text('x'))).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
      await expect(kms.encrypt(p256, { plaintext: text('x') })).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
      await expect(kms.generateKey(`${run}-x`, 'x25519')).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    });

    it('writes the action log under rotating data keys and reads it back with only the KMS key', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ecps-kms-log-'));
      try {
        const dataKeys = new DataKeyCache(kms, { kekId: aes, maxUses: 4 });
        const log = new EnvelopeActionLog({ dir, dataKeys, writer: { fsync: 'never' } });
        const messages = Array.from({ length: 10 }, (_, i) => text(`action ${i}`));
        await Promise.all(messages.map((m) => log.append(m)));
        await log.close();
        dataKeys.close();
        expect(log.paths).toHaveLength(3); // 4 + 4 + 2 records: the data key rotated twice
        const read: Uint8Array[] = [];
        for (const path of log.paths) {
          const contents = await readEaplog(path, { keyProvider: kms });
          expect(contents.fields?.dataKey).toMatchObject({ kms: kms.kind, kek: aes });
          read.push(...contents.messages.map((m) => m.data));
        }
        expect(read).toEqual(messages);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('seals messages under a cached data key; a receiver with KMS access opens them', async () => {
      const sender = new DataKeyCache(kms, { kekId: aes });
      const receiver = new DataKeyCache(kms, { kekId: aes });
      const envelopes = [];
      for (let i = 0; i < 3; i++) envelopes.push(await sealWithDataKey(sender, { plaintext: text(`event ${i}`), innerType: 'ecps.eap.action', senderId: 'arm-1' }));
      expect(sender.generatedCount).toBe(1);
      for (let i = 0; i < 3; i++) expect(await openWithDataKey(receiver, envelopes[i] as never)).toEqual(text(`event ${i}`));
      const env = envelopes[0] as NonNullable<(typeof envelopes)[0]>;
      await expect(openWithDataKey(receiver, { ...env, senderId: 'arm-2' })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await expect(openWithDataKey(receiver, { ...env, recipientKeyId: p256 })).rejects.toMatchObject({ code: 'WRONG_RECIPIENT' });
      sender.close();
      receiver.close();
    });

    const control = options.control;
    if (control) describeFaults(control);
    else it.skip('fault cases (throttling, permissions, disabled keys, unreachable endpoint) need a test server', () => undefined);

    it('every failure above is a typed KmsError without a cause, and no credential is in an error or a log line', () => {
      expect(errors.length).toBeGreaterThanOrEqual(control ? 12 : 6);
      if (control) expect(logged.length).toBeGreaterThan(0); // the retries were logged
      const secrets = (options.secrets?.() ?? []).filter((s) => s.length >= 8);
      for (const error of errors) {
        expect(error).toBeInstanceOf(KmsError);
        expect((error as KmsError).cause).toBeUndefined();
      }
      const text = reachableText([errors, logged]);
      // compared by position, so that a failure does not print the secret it found
      expect(secrets.flatMap((secret, i) => (text.includes(secret) ? [`secrets()[${i}]`] : []))).toEqual([]);
    });

    function describeFaults(control: () => KmsFaultControl): void {
      it('a disabled key fails with KEY_DISABLED (KmsKeyDisabledError) until enabled again', async () => {
        const id = `${run}-disabled`;
        await kms.generateKey(id, 'aes-256-gcm');
        created.push(id);
        const sealed = await kms.encrypt(id, { plaintext: text('x') });
        control().disableKey(id);
        await expect(kms.decrypt(id, sealed)).rejects.toMatchObject({ code: 'KEY_DISABLED', name: 'KmsKeyDisabledError' });
        if (!control().disablesVersionsOnly) await expect(kms.encrypt(id, { plaintext: text('x') })).rejects.toMatchObject({ code: 'KEY_DISABLED' });
        control().enableKey(id);
        expect(await kms.decrypt(id, sealed)).toEqual(text('x'));
      });

      it('a missing permission fails at once with PERMISSION_DENIED (KmsPermissionError), not retried', async () => {
        const sealed = await kms.encrypt(aes, { plaintext: text('x') });
        control().revoke('decrypt');
        try {
          const before = total(control());
          await expect(kms.decrypt(aes, sealed)).rejects.toMatchObject({ code: 'PERMISSION_DENIED', name: 'KmsPermissionError' });
          expect(total(control()) - before).toBe(1);
        } finally {
          control().grant('decrypt');
        }
      });

      it('throttling is retried with backoff for idempotent operations and surfaces as RESOURCE_EXHAUSTED when it persists', async () => {
        let before = total(control());
        control().throttleNext(2);
        expect(await kms.unwrapKey(aes, await kms.wrapKey(aes, new Uint8Array(32)))).toHaveLength(32);
        expect(total(control()) - before).toBe(4); // wrap: 2 throttled + 1; unwrap: 1
        control().throttleNext(100);
        try {
          await expect(kms.sign(p256, text('x'))).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED', name: 'KmsThrottledError' });
        } finally {
          control().throttleNext(0);
        }
        // key creation is not idempotent: one attempt only
        before = total(control());
        control().throttleNext(1);
        await expect(kms.generateKey(`${run}-throttled`, 'aes-256-gcm')).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
        expect(total(control()) - before).toBe(1);
      });

      it('an endpoint that stops answering fails with UNAVAILABLE (KmsUnavailableError) after the attempt timeouts', async () => {
        control().stopAnswering();
        try {
          await expect(kms.encrypt(aes, { plaintext: text('x') })).rejects.toMatchObject({ code: 'UNAVAILABLE', name: 'KmsUnavailableError' });
        } finally {
          control().resumeAnswering();
        }
      });
    }
  });
}
