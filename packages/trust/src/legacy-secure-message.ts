// SPDX-License-Identifier: Apache-2.0
// Read-only support for the reference SDK's SecureMessage JSON (spec §10) so old peers can still be understood.
// Never produced: its hybrid cipher (RSA-OAEP + AES-CBC) has no MAC.
import { constants, createDecipheriv, privateDecrypt, type KeyObject } from 'node:crypto';
import { TrustError } from './errors';
import { verifyWithKeyObject } from './signatures';

export interface LegacySecureMessageJson {
  message: string;
  message_type: string;
  timestamp: number | string;
  signature?: string | null;
  encrypted_key?: string | null;
  iv?: string | null;
  security_token?: string | null;
  sender_id?: string | null;
}

export interface LegacyReadOptions {
  /** RSA public key of the sender: the RSA-PSS (SHA-256, any salt) signature over the `message` bytes is checked. */
  verifyKey?: KeyObject;
  /** Reject messages without a valid signature. Default true when `verifyKey` is given. */
  requireSignature?: boolean;
  /** Our RSA private key: decrypts `message` (hybrid or direct RSA-OAEP-SHA256). */
  decryptKey?: KeyObject;
}

export interface LegacyMessage {
  readonly messageType: string;
  readonly timestampNs: bigint;
  readonly senderId?: string;
  readonly securityToken?: string;
  /** The plaintext payload (the reference's serialized message). */
  readonly payload: Uint8Array;
  readonly signed: boolean;
  readonly encrypted: boolean;
}

function b64(text: string, field: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new TrustError('DECODE_ERROR', `${field} is not standard base64`);
  return Buffer.from(text, 'base64');
}

function oaep(key: KeyObject, data: Uint8Array): Buffer {
  return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data);
}

function cbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  if (key.length !== 32 || iv.length !== 16) throw new Error('bad AES-CBC key or IV length');
  const d = createDecipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([d.update(data), d.final()]);
}

/** Decrypts the reference hybrid blob `u32be len ‖ RSA-OAEP(aes key) ‖ IV(16) ‖ AES-256-CBC`, or direct RSA-OAEP. */
function decryptHybrid(key: KeyObject, blob: Uint8Array): Buffer {
  const modulusBytes = (key.asymmetricKeyDetails?.modulusLength ?? 2048) / 8;
  if (blob.length === modulusBytes) return oaep(key, blob);
  if (blob.length < 4) throw new Error('hybrid ciphertext too short');
  const len = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0, false);
  if (4 + len + 16 > blob.length) throw new Error('hybrid ciphertext truncated');
  const aesKey = oaep(key, blob.subarray(4, 4 + len));
  return cbc(aesKey, blob.subarray(4 + len, 4 + len + 16), blob.subarray(4 + len + 16));
}

/**
 * Reads a reference SecureMessage. The signature, when present, covers the decoded `message` bytes as sent.
 * Encrypted messages are read in the form where `message` is itself the hybrid blob (decrypted when `decryptKey` is
 * given), so that the signature covers the wrapped key and the IV too; the `encrypted_key` + `iv` field form is
 * refused (`UNAUTHENTICATED`), because its key and IV are outside the signature.
 * Decryption runs only on a message whose signature verified under `verifyKey`: the cipher has no MAC, and
 * decrypting unauthenticated ciphertext would tell a forger whether its padding is valid.
 * @throws TrustError `DECODE_ERROR` (malformed JSON or base64), `SIGNATURE_INVALID`, `UNAUTHENTICATED` (signature
 *   required but absent, or decryption asked for a message whose signature was not verified), `KEY_NOT_FOUND`
 *   (encrypted, no `decryptKey`), `DECRYPTION_FAILED` (wrong key, bad padding).
 */
export function readLegacySecureMessage(input: string | LegacySecureMessageJson, options: LegacyReadOptions = {}): LegacyMessage {
  let json: LegacySecureMessageJson;
  try {
    json = typeof input === 'string' ? (JSON.parse(input) as LegacySecureMessageJson) : input;
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', 'SecureMessage is not JSON', { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TrustError('DECODE_ERROR', 'SecureMessage is not a JSON object');
  if (typeof json.message !== 'string' || typeof json.message_type !== 'string') {
    throw new TrustError('DECODE_ERROR', 'SecureMessage needs message and message_type');
  }
  for (const field of ['signature', 'encrypted_key', 'iv', 'security_token', 'sender_id'] as const) {
    const value: unknown = json[field];
    if (value !== undefined && value !== null && typeof value !== 'string') throw new TrustError('DECODE_ERROR', `SecureMessage ${field} is not a string`);
  }
  if (typeof json.timestamp !== 'number' && typeof json.timestamp !== 'string') throw new TrustError('DECODE_ERROR', 'SecureMessage timestamp is not an integer');
  let timestampNs: bigint;
  try {
    timestampNs = BigInt(json.timestamp);
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', 'SecureMessage timestamp is not an integer', { cause });
  }
  const body = b64(json.message, 'message');
  const signature = json.signature ? b64(json.signature, 'signature') : undefined;
  if (signature) {
    if (options.verifyKey && !verifyWithKeyObject('PS256', options.verifyKey, body, signature)) {
      throw new TrustError('SIGNATURE_INVALID', 'SecureMessage signature does not verify');
    }
  } else if (options.requireSignature ?? options.verifyKey !== undefined) {
    throw new TrustError('UNAUTHENTICATED', 'SecureMessage is not signed');
  }
  const verified = signature !== undefined && options.verifyKey !== undefined;
  let payload: Uint8Array = body;
  let encrypted = false;
  if (json.encrypted_key || json.iv) {
    // The signature covers `message` only: a forger can swap the wrapped key or flip IV bits, which flips the
    // same bits of the first plaintext block without touching what was signed. Nothing read this way is trustworthy.
    throw new TrustError('UNAUTHENTICATED', 'the encrypted_key + iv form leaves the key and IV outside the signature; only the hybrid blob form is read');
  }
  if (options.decryptKey) {
    // AES-CBC has no MAC: decrypting what nobody vouched for would make us a padding oracle. Decrypt signed only.
    if (!verified) throw new TrustError('UNAUTHENTICATED', 'refusing to decrypt a SecureMessage whose signature was not verified (give verifyKey)');
    try {
      payload = decryptHybrid(options.decryptKey, body);
    } catch (cause) {
      throw new TrustError('DECRYPTION_FAILED', 'cannot decrypt SecureMessage', { cause });
    }
    encrypted = true;
  }
  return {
    messageType: json.message_type,
    timestampNs,
    ...(json.sender_id ? { senderId: json.sender_id } : {}),
    ...(json.security_token ? { securityToken: json.security_token } : {}),
    payload: new Uint8Array(payload),
    signed: verified,
    encrypted,
  };
}
