// SPDX-License-Identifier: Apache-2.0
// TpmKeyProvider against a real software TPM (swtpm): keys made and used inside the TPM, persistence, recovery.
// swtpm serves one connection at a time, so each test closes its provider before the next one opens.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { constants, createPublicKey, verify } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TPM_RH, TPMA_OBJECT } from '../src/constants';
import { hasAttributes, marshalPublic, parsePublic, storageRootTemplate } from '../src/public-area';
import { Tpm, passwordAuth } from '../src/tpm';
import type { TpmKeyProvider } from '../src/tpm-key-provider';
import { tcpTransport } from '../src/transport';
import { describeTpm, openProvider, startSwtpm, type SwtpmHandle } from './swtpm-fixture';

const text = (s: string) => new TextEncoder().encode(s);

describeTpm('TpmKeyProvider on swtpm', () => {
  let swtpm: SwtpmHandle;
  let dir: string;
  let keyFile: string;

  beforeAll(async () => {
    swtpm = await startSwtpm();
    dir = mkdtempSync(join(tmpdir(), 'ecps-tpm-keys-'));
    keyFile = join(dir, 'keys.json');
  });
  afterAll(async () => {
    await swtpm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function using<T>(use: (tpm: TpmKeyProvider) => Promise<T>, options = {}): Promise<T> {
    const tpm = await openProvider(swtpm, { keyFile, ...options });
    try {
      return await use(tpm);
    } finally {
      await tpm.close();
    }
  }

  it('makes an ECDSA P-256 key inside the TPM that never leaves it; its signatures verify with node:crypto', async () => {
    await using(async (tpm) => {
      const info = await tpm.generateKey('arm-1-signing', 'ecdsa-p256');
      expect(info).toMatchObject({ id: 'arm-1-signing', algorithm: 'ecdsa-p256', extractable: false });
      const data = text('move arm to home');
      const signature = await tpm.sign('arm-1-signing', data);
      expect(signature).toHaveLength(64);
      const key = createPublicKey({ key: Buffer.from(info.publicKey!), format: 'der', type: 'spki' });
      expect(verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
      expect(verify('sha256', text('other'), { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
      expect(await tpm.verify('arm-1-signing', data, signature)).toBe(true);
      await expect(tpm.generateKey('arm-1-signing', 'ecdsa-p256')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });
    // the file holds the public area the TPM returned: generated inside, bound to this TPM and parent
    const stored = JSON.parse(readFileSync(keyFile, 'utf8')) as { keys: Record<string, { public: string }> };
    const pub = parsePublic(Buffer.from(stored.keys['arm-1-signing']!.public, 'hex'));
    expect(hasAttributes(pub, TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.sign)).toBe(true);
  });

  it('makes an RSA-2048 key that signs with RSA-PSS (not PKCS#1 v1.5)', async () => {
    await using(async (tpm) => {
      const info = await tpm.generateKey('legacy-signing', 'rsa-pss-2048');
      const data = text('reference interop');
      const signature = await tpm.sign('legacy-signing', data);
      const key = createPublicKey({ key: Buffer.from(info.publicKey!), format: 'der', type: 'spki' });
      expect(verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature)).toBe(true);
      expect(verify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature)).toBe(false);
      expect(await tpm.verify('legacy-signing', data, signature)).toBe(true);
    });
  }, 60_000);

  it('keeps keys in its key file: a new provider signs with them; another TPM cannot load them', async () => {
    const signature = await using((tpm) => tpm.sign('arm-1-signing', text('after reopen')));
    await using(async (tpm) => expect(await tpm.verify('arm-1-signing', text('after reopen'), signature)).toBe(true));
    const other = await startSwtpm();
    const copy = join(dir, 'copied.json');
    copyFileSync(keyFile, copy);
    const stranger = await openProvider(other, { keyFile: copy });
    try {
      expect(await stranger.hasKey('arm-1-signing')).toBe(true);
      await expect(stranger.sign('arm-1-signing', text('x'))).rejects.toMatchObject({ name: 'TpmError', code: 'DECRYPTION_FAILED' });
    } finally {
      await stranger.close();
      await other.stop();
    }
  });

  it('survives a power cycle: the storage root is recreated, PCRs start again at zero', async () => {
    await using(async (tpm) => {
      await tpm.measure('firmware', 0, 'fw');
      expect((await tpm.readPcrs([0])).get(0)!.some((b) => b !== 0)).toBe(true);
      await tpm.sign('arm-1-signing', text('before'));
      await swtpm.restart();
      const signature = await tpm.sign('arm-1-signing', text('after'));
      expect(await tpm.verify('arm-1-signing', text('after'), signature)).toBe(true);
      expect([...(await tpm.readPcrs([0])).get(0)!]).toEqual(new Array(32).fill(0));
    });
  });

  it('runs concurrent operations one at a time, so the TPM never runs out of object slots', async () => {
    await using(async (tpm) => {
      const signatures = await Promise.all(Array.from({ length: 12 }, (_, i) => tpm.sign('arm-1-signing', text(`n${i}`))));
      for (const [i, s] of signatures.entries()) expect(await tpm.verify('arm-1-signing', text(`n${i}`), s)).toBe(true);
    });
  });

  it('flushes objects a crashed process left loaded; without that the TPM is full', async () => {
    const crashed = new Tpm(tcpTransport({ port: swtpm.port }));
    for (let i = 0; i < 3; i++) await crashed.createPrimary(TPM_RH.OWNER, passwordAuth(), marshalPublic(storageRootTemplate()));
    await crashed.transport.close(); // never flushed, as after a crash
    await using(async (tpm) => expect(tpm.sign('arm-1-signing', text('x'))).rejects.toMatchObject({ name: 'TpmError', code: 'RESOURCE_EXHAUSTED' }), { flushStale: false });
    await using(async (tpm) => expect(await tpm.sign('arm-1-signing', text('x'))).toHaveLength(64));
  });

  it('refuses what it cannot do with typed errors', async () => {
    const tpm = await openProvider(swtpm, { keyFile });
    await expect(tpm.sign('missing', text('x'))).rejects.toMatchObject({ name: 'TrustError', code: 'KEY_NOT_FOUND' });
    await expect(tpm.getKey('missing')).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await expect(tpm.generateKey('k', 'ed25519')).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await expect(tpm.generateKey('bad id', 'ecdsa-p256')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(tpm.encrypt()).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await expect(tpm.measure('firmware', 24, 'x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(tpm.measure('fw', 17, 'x')).rejects.toMatchObject({ name: 'TpmError', code: 'PERMISSION_DENIED', details: { rcName: 'TPM_RC_LOCALITY' } });
    await expect(tpm.attest('ak', new Uint8Array(16))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await tpm.close();
    await expect(tpm.sign('arm-1-signing', text('x'))).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
