// SPDX-License-Identifier: Apache-2.0
// Trust levels (spec §10) and what each one makes a node do. Levels are cumulative.
import { TrustError } from './errors';

/** Numeric values are the spec's `TrustLevel`. */
export const TrustLevel = {
  NONE: 0,
  ENCRYPTION: 1,
  AUTHENTICATED: 2,
  AUTHORIZED: 3,
  AUDITED: 4,
} as const;

export type TrustLevelValue = (typeof TrustLevel)[keyof typeof TrustLevel];
export type TrustLevelName = Lowercase<keyof typeof TrustLevel>;

/** What a level turns on. */
export interface TrustBehaviour {
  /** Payloads are sealed (AES-256-GCM under an ephemeral ECDH key) so that only key holders can read them. */
  readonly seal: boolean;
  /** Every message is signed and every received message must carry a valid signature of a known, unrevoked key. */
  readonly sign: boolean;
  /** The sender's principal must hold the permission for what the message does (RBAC). */
  readonly authorize: boolean;
  /** Every decision (allowed or denied) is written to the audit sink. */
  readonly audit: boolean;
}

/**
 * Parses a level given as a number, an upper- or lower-case name.
 * @throws TrustError `CONFIG_INVALID` for anything else.
 */
export function parseTrustLevel(level: TrustLevelValue | TrustLevelName | keyof typeof TrustLevel | number): TrustLevelValue {
  if (typeof level === 'number') {
    if (Number.isInteger(level) && level >= 0 && level <= 4) return level as TrustLevelValue;
  } else {
    const value = (TrustLevel as Record<string, TrustLevelValue>)[level.toUpperCase()];
    if (value !== undefined) return value;
  }
  throw new TrustError('CONFIG_INVALID', `unknown trust level ${String(level)}`);
}

/**
 * The behaviour of a level. `seal` follows the level (ENCRYPTION and up) unless `confidentiality` overrides it,
 * e.g. to sign without encrypting on a trusted LAN.
 */
export function trustBehaviour(level: TrustLevelValue, confidentiality?: boolean): TrustBehaviour {
  return {
    seal: confidentiality ?? level >= TrustLevel.ENCRYPTION,
    sign: level >= TrustLevel.AUTHENTICATED,
    authorize: level >= TrustLevel.AUTHORIZED,
    audit: level >= TrustLevel.AUDITED,
  };
}
