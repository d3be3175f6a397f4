// SPDX-License-Identifier: Apache-2.0
// Who may connect: username/password pairs given in memory, or a Mosquitto password file (so `mosquitto_passwd`
// manages both brokers' users). Verification is constant-time and off the event loop (PBKDF2 runs in libuv's pool).
import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { EcpsError } from '@ecps/core';

const pbkdf2Async = promisify(pbkdf2);

/** A stored password: the Mosquitto `$7$` (PBKDF2-SHA512) or `$6$` (salted SHA-512) form, or a plain one given in code. */
type Secret =
  | { kind: 'pbkdf2'; iterations: number; salt: Buffer; hash: Buffer }
  | { kind: 'sha512'; salt: Buffer; hash: Buffer }
  | { kind: 'plain'; digest: Buffer };

/** Largest PBKDF2 iteration count a password file may ask for (a hostile file must not stall logins). */
const MAX_ITERATIONS = 1_000_000;

export class Credentials {
  private constructor(private readonly secrets: ReadonlyMap<string, Secret>) {}

  /** Users and passwords given in code. */
  static fromUsers(users: Readonly<Record<string, string>>): Credentials {
    const secrets = new Map<string, Secret>();
    for (const [user, password] of Object.entries(users)) secrets.set(user, { kind: 'plain', digest: sha512(Buffer.from(password, 'utf8')) });
    return new Credentials(secrets);
  }

  /**
   * Reads a Mosquitto password file (`user:$7$iterations$salt$hash` or `user:$6$salt$hash`, base64, one per line;
   * `#` comments and blank lines allowed). Throws `CONFIG_INVALID` for an unreadable file, an unknown hash form or
   * a file without users.
   */
  static fromPasswordFile(path: string): Credentials {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new EcpsError('CONFIG_INVALID', `cannot read the password file ${path}`, { cause, details: { path } });
    }
    const secrets = new Map<string, Secret>();
    text.split(/\r?\n/).forEach((line, index) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const secret = colon > 0 ? parseSecret(line.slice(colon + 1)) : undefined;
      if (!secret) throw new EcpsError('CONFIG_INVALID', `${path}:${index + 1} is not a user:$7$... or user:$6$... line`, { details: { path, line: index + 1 } });
      secrets.set(line.slice(0, colon), secret);
    });
    if (secrets.size === 0) throw new EcpsError('CONFIG_INVALID', `the password file ${path} has no users`, { details: { path } });
    return new Credentials(secrets);
  }

  get size(): number {
    return this.secrets.size;
  }

  /** True when `password` is `user`'s. Unknown users cost as much as known ones. */
  async verify(user: string | undefined, password: Uint8Array | undefined): Promise<boolean> {
    const secret = user === undefined ? undefined : this.secrets.get(user);
    const given = Buffer.from(password ?? new Uint8Array(0));
    if (!secret) {
      sha512(given);
      return false;
    }
    switch (secret.kind) {
      case 'plain':
        return timingSafeEqual(sha512(given), secret.digest);
      case 'sha512':
        return timingSafeEqual(sha512(Buffer.concat([given, secret.salt])), secret.hash);
      case 'pbkdf2': {
        const derived = await pbkdf2Async(given, secret.salt, secret.iterations, secret.hash.length, 'sha512');
        return timingSafeEqual(derived, secret.hash);
      }
    }
  }
}

function sha512(data: Buffer): Buffer {
  return createHash('sha512').update(data).digest();
}

function parseSecret(text: string): Secret | undefined {
  const parts = text.trim().split('$');
  if (parts[0] !== '') return undefined;
  if (parts[1] === '7' && parts.length === 5) {
    const iterations = Number(parts[2]);
    const salt = Buffer.from(parts[3]!, 'base64');
    const hash = Buffer.from(parts[4]!, 'base64');
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS || salt.length === 0 || hash.length !== 64) return undefined;
    return { kind: 'pbkdf2', iterations, salt, hash };
  }
  if (parts[1] === '6' && parts.length === 4) {
    const salt = Buffer.from(parts[2]!, 'base64');
    const hash = Buffer.from(parts[3]!, 'base64');
    if (salt.length === 0 || hash.length !== 64) return undefined;
    return { kind: 'sha512', salt, hash };
  }
  return undefined;
}
