// SPDX-License-Identifier: Apache-2.0
// The PKCS#11 calls themselves, run in a worker thread. graphene-pk11 (and the C API under it) is synchronous: on a
// network HSM a single call can take milliseconds to seconds, and on the main thread it would stop every timer,
// socket and handler of the process for that long.
//
// `tokenWorkerMain` is started from its source text (see token-thread.ts), so it must stay self-contained: no
// imports, no references to anything outside its own body.
import type * as Graphene from 'graphene-pk11';

/** A request to the worker: `op` with its arguments; answered with `{ id, value }` or `{ id, error }`. */
export interface TokenRequest {
  readonly id: number;
  readonly op: TokenOp;
  readonly args: readonly unknown[];
}

export interface TokenResponse {
  readonly id: number;
  readonly value?: unknown;
  /** `code` when the worker knows the ECPS code; otherwise the message carries the CKR_* name. */
  readonly error?: { readonly code?: string; readonly message: string };
}

export type TokenOp = 'open' | 'close' | 'generate' | 'describe' | 'exists' | 'sign' | 'derive' | 'encrypt' | 'decrypt';

/** What `describe` returns for a key id. */
export type KeyDescription = { readonly kind: 'secret' } | { readonly kind: 'ec'; readonly ecPoint: Uint8Array } | undefined;

interface Port {
  on(event: 'message', listener: (request: TokenRequest) => void): void;
  postMessage(response: TokenResponse): void;
}

/** The worker's body. `load` is the worker's `require`, `graphenePath` the resolved graphene-pk11 entry. */
export function tokenWorkerMain(load: (path: string) => unknown, graphenePath: string, port: Port): void {
  const graphene = load(graphenePath) as typeof Graphene;
  const modules = new Map<string, { module: Graphene.Module; refs: number }>();
  const sessions = new Map<number, { session: Graphene.Session; library: string; token: string; combinedEcdsa: boolean }>();
  let nextSession = 1;

  class Coded extends Error {
    constructor(
      readonly code: string,
      message: string,
    ) {
      super(message);
    }
  }

  const session = (sid: number) => {
    const s = sessions.get(sid);
    if (!s) throw new Coded('CLOSED', 'PKCS#11 provider is closed');
    return s;
  };
  const find = (sid: number, id: string, cls: Graphene.ObjectClass) => {
    const found = session(sid).session.find({ class: cls, label: id });
    return found.length > 0 ? found.items(0) : undefined;
  };
  const exists = (sid: number, id: string) => session(sid).session.find({ label: id }).length > 0;
  const requireKey = (sid: number, id: string, cls: Graphene.ObjectClass, op: string) => {
    const key = find(sid, id, cls);
    if (key) return key;
    if (exists(sid, id)) throw new Coded('MECHANISM_UNSUPPORTED', `key ${id} cannot ${op}`);
    throw new Coded('KEY_NOT_FOUND', `no key labelled ${id} on the token`);
  };
  const release = (library: string) => {
    const held = modules.get(library);
    if (!held || --held.refs > 0) return;
    modules.delete(library);
    try {
      held.module.finalize();
    } catch {
      // finalizing a module that failed is best effort
    }
  };

  const ops: Record<TokenOp, (...args: never[]) => unknown> = {
    open(library: string, tokenLabel: string, pin: string) {
      let held = modules.get(library);
      if (!held) {
        try {
          const module = graphene.Module.load(library, 'ecps');
          module.initialize();
          held = { module, refs: 0 };
          modules.set(library, held);
        } catch (error) {
          throw new Coded('TOKEN_ABSENT', `cannot load PKCS#11 module ${library}: ${(error as Error).message}`);
        }
      }
      held.refs++;
      try {
        const slots = held.module.getSlots(true);
        let slot: Graphene.Slot | undefined;
        for (let i = 0; i < slots.length; i++) {
          const candidate = slots.items(i);
          if (candidate.getToken().label.trim() === tokenLabel) slot = candidate;
        }
        if (!slot) throw new Coded('TOKEN_ABSENT', `no PKCS#11 token labelled ${tokenLabel}`);
        let combinedEcdsa = false;
        const mechanisms = slot.getMechanisms();
        for (let i = 0; i < mechanisms.length; i++) if (mechanisms.items(i).name === 'ECDSA_SHA256') combinedEcdsa = true;
        const s = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
        try {
          s.login(pin, graphene.UserType.USER);
        } catch (error) {
          // Login state is per process and token: another provider of this process has logged in already.
          if (!String((error as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) {
            s.close();
            throw error;
          }
        }
        const sid = nextSession++;
        sessions.set(sid, { session: s, library, token: tokenLabel, combinedEcdsa });
        return { session: sid, combinedEcdsa };
      } catch (error) {
        release(library);
        throw error;
      }
    },
    close(sid: number) {
      const s = sessions.get(sid);
      if (!s) return;
      sessions.delete(sid);
      try {
        // login state is per process and token: log out only with the last session on this token
        const shared = [...sessions.values()].some((o) => o.library === s.library && o.token === s.token);
        if (!shared) s.session.logout();
        s.session.close();
      } finally {
        release(s.library);
      }
    },
    generate(sid: number, id: string, algorithm: string, usage: 'sign' | 'derive', persistent: boolean) {
      const s = session(sid).session;
      if (exists(sid, id)) throw new Coded('ALREADY_EXISTS', `key ${id} exists on the token`);
      if (algorithm === 'ecdsa-p256') {
        // single-purpose: a key that signs never derives, so a sealing peer can never obtain signatures with it
        s.generateKeyPair(
          graphene.KeyGenMechanism.EC,
          { keyType: graphene.KeyType.EC, label: id, token: persistent, verify: usage === 'sign', derive: false, paramsEC: graphene.NamedCurve.getByName('secp256r1').value },
          { keyType: graphene.KeyType.EC, label: id, token: persistent, sign: usage === 'sign', derive: usage === 'derive', private: true, sensitive: true, extractable: false },
        );
      } else if (algorithm === 'aes-256-gcm') {
        s.generateKey(graphene.KeyGenMechanism.AES, {
          keyType: graphene.KeyType.AES,
          class: graphene.ObjectClass.SECRET_KEY,
          label: id,
          token: persistent,
          valueLen: 32,
          encrypt: true,
          decrypt: true,
          wrap: true,
          unwrap: true,
          sensitive: true,
          extractable: false,
          private: true,
        });
      } else {
        throw new Coded('MECHANISM_UNSUPPORTED', `${algorithm} keys are not supported on PKCS#11 (use ecdsa-p256 or aes-256-gcm)`);
      }
    },
    describe(sid: number, id: string): KeyDescription {
      if (find(sid, id, graphene.ObjectClass.SECRET_KEY)) return { kind: 'secret' };
      const pub = find(sid, id, graphene.ObjectClass.PUBLIC_KEY);
      if (!pub) return undefined;
      return { kind: 'ec', ecPoint: new Uint8Array(pub.toType<Graphene.PublicKey>().getAttribute({ pointEC: null }).pointEC as Buffer) };
    },
    exists(sid: number, id: string) {
      return exists(sid, id);
    },
    sign(sid: number, id: string, data: Uint8Array, digest: Uint8Array | undefined) {
      const key = requireKey(sid, id, graphene.ObjectClass.PRIVATE_KEY, 'sign').toType<Graphene.PrivateKey>();
      const s = session(sid);
      // the token hashes itself when it can; otherwise the caller sent the SHA-256 digest
      return new Uint8Array(
        s.combinedEcdsa ? s.session.createSign('ECDSA_SHA256', key).once(Buffer.from(data)) : s.session.createSign('ECDSA', key).once(Buffer.from(digest!)),
      );
    },
    derive(sid: number, id: string, peerPoint: Uint8Array) {
      const key = requireKey(sid, id, graphene.ObjectClass.PRIVATE_KEY, 'derive').toType<Graphene.PrivateKey>();
      let secret: Graphene.SecretKey | undefined;
      try {
        secret = session(sid).session.deriveKey(
          { name: 'ECDH1_DERIVE', params: new graphene.EcdhParams(graphene.EcKdf.NULL, null, Buffer.from(peerPoint)) },
          key,
          { class: graphene.ObjectClass.SECRET_KEY, keyType: graphene.KeyType.GENERIC_SECRET, token: false, sensitive: false, extractable: true, valueLen: 32 },
        );
        return new Uint8Array(secret.getAttribute({ value: null }).value as Buffer);
      } finally {
        secret?.destroy();
      }
    },
    encrypt(sid: number, id: string, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) {
      const key = requireKey(sid, id, graphene.ObjectClass.SECRET_KEY, 'encrypt').toType<Graphene.SecretKey>();
      const params = new graphene.AesGcm240Params(Buffer.from(nonce), Buffer.from(aad), 128);
      return new Uint8Array(session(sid).session.createCipher({ name: 'AES_GCM', params }, key).once(Buffer.from(plaintext), Buffer.alloc(plaintext.length + 16)));
    },
    decrypt(sid: number, id: string, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array) {
      const key = requireKey(sid, id, graphene.ObjectClass.SECRET_KEY, 'decrypt').toType<Graphene.SecretKey>();
      const params = new graphene.AesGcm240Params(Buffer.from(nonce), Buffer.from(aad), 128);
      return new Uint8Array(session(sid).session.createDecipher({ name: 'AES_GCM', params }, key).once(Buffer.from(ciphertext), Buffer.alloc(ciphertext.length)));
    },
  };

  port.on('message', (request) => {
    try {
      const value = (ops[request.op] as (...args: unknown[]) => unknown)(...request.args);
      port.postMessage({ id: request.id, value });
    } catch (error) {
      const e = error as { code?: unknown; message?: unknown };
      port.postMessage({ id: request.id, error: { ...(typeof e.code === 'string' ? { code: e.code } : {}), message: String(e.message ?? error) } });
    }
  });
}
