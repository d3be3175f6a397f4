// SPDX-License-Identifier: Apache-2.0
// TPM response codes (TPM 2.0 Library, Part 2, TPM_RC) as typed errors.
import { EcpsError, type EcpsErrorCode, type EcpsErrorOptions } from '@ecps/core';

// Format-one codes (the base, without handle/parameter/session numbers) and format-zero codes by name.
const FMT1_NAMES: Readonly<Record<number, string>> = {
  0x081: 'TPM_RC_ASYMMETRIC',
  0x082: 'TPM_RC_ATTRIBUTES',
  0x083: 'TPM_RC_HASH',
  0x084: 'TPM_RC_VALUE',
  0x085: 'TPM_RC_HIERARCHY',
  0x087: 'TPM_RC_KEY_SIZE',
  0x088: 'TPM_RC_MGF',
  0x089: 'TPM_RC_MODE',
  0x08a: 'TPM_RC_TYPE',
  0x08b: 'TPM_RC_HANDLE',
  0x08c: 'TPM_RC_KDF',
  0x08d: 'TPM_RC_RANGE',
  0x08e: 'TPM_RC_AUTH_FAIL',
  0x08f: 'TPM_RC_NONCE',
  0x090: 'TPM_RC_PP',
  0x092: 'TPM_RC_SCHEME',
  0x095: 'TPM_RC_SIZE',
  0x096: 'TPM_RC_SYMMETRIC',
  0x097: 'TPM_RC_TAG',
  0x098: 'TPM_RC_SELECTOR',
  0x09a: 'TPM_RC_INSUFFICIENT',
  0x09b: 'TPM_RC_SIGNATURE',
  0x09c: 'TPM_RC_KEY',
  0x09d: 'TPM_RC_POLICY_FAIL',
  0x09f: 'TPM_RC_INTEGRITY',
  0x0a0: 'TPM_RC_TICKET',
  0x0a1: 'TPM_RC_RESERVED_BITS',
  0x0a2: 'TPM_RC_BAD_AUTH',
  0x0a3: 'TPM_RC_EXPIRED',
  0x0a4: 'TPM_RC_POLICY_CC',
  0x0a5: 'TPM_RC_BINDING',
  0x0a6: 'TPM_RC_CURVE',
  0x0a7: 'TPM_RC_ECC_POINT',
};

const FMT0_NAMES: Readonly<Record<number, string>> = {
  0x100: 'TPM_RC_INITIALIZE',
  0x101: 'TPM_RC_FAILURE',
  0x103: 'TPM_RC_SEQUENCE',
  0x124: 'TPM_RC_AUTH_TYPE',
  0x125: 'TPM_RC_AUTH_MISSING',
  0x126: 'TPM_RC_POLICY',
  0x127: 'TPM_RC_PCR',
  0x128: 'TPM_RC_PCR_CHANGED',
  0x12d: 'TPM_RC_UPGRADE',
  0x12f: 'TPM_RC_AUTH_UNAVAILABLE',
  0x130: 'TPM_RC_REBOOT',
  0x143: 'TPM_RC_COMMAND_SIZE',
  0x144: 'TPM_RC_COMMAND_CODE',
  0x145: 'TPM_RC_AUTHSIZE',
  0x149: 'TPM_RC_NV_LOCKED',
  0x902: 'TPM_RC_OBJECT_MEMORY',
  0x903: 'TPM_RC_SESSION_MEMORY',
  0x904: 'TPM_RC_MEMORY',
  0x905: 'TPM_RC_SESSION_HANDLES',
  0x906: 'TPM_RC_OBJECT_HANDLES',
  0x907: 'TPM_RC_LOCALITY',
  0x908: 'TPM_RC_YIELDED',
  0x909: 'TPM_RC_CANCELED',
  0x90a: 'TPM_RC_TESTING',
  0x921: 'TPM_RC_LOCKOUT',
  0x922: 'TPM_RC_RETRY',
  0x923: 'TPM_RC_NV_UNAVAILABLE',
};

/** `TPM_RC_INITIALIZE`: Startup was already done (not an error for us). */
export const TPM_RC_INITIALIZE = 0x100;
/** Warnings after which the same command may simply be sent again. */
export const RETRYABLE_RCS: ReadonlySet<number> = new Set([0x908, 0x90a, 0x922]);

/** The base code of a response code: format-one codes without their handle/parameter/session number. */
export function baseResponseCode(rc: number): number {
  return rc & 0x80 ? rc & 0xbf : rc;
}

/** A readable name for a response code, e.g. `TPM_RC_SIGNATURE (parameter 2)`. */
export function responseCodeName(rc: number): string {
  if (rc & 0x80) {
    const name = FMT1_NAMES[rc & 0xbf] ?? `TPM_RC_FMT1(0x${(rc & 0x3f).toString(16)})`;
    const n = (rc >> 8) & 0xf;
    if (rc & 0x40) return `${name} (parameter ${n})`;
    if (n === 0) return name;
    return n & 0x8 ? `${name} (session ${n & 0x7})` : `${name} (handle ${n})`;
  }
  return FMT0_NAMES[rc] ?? `TPM_RC(0x${rc.toString(16)})`;
}

function codeFor(rc: number): EcpsErrorCode {
  switch (baseResponseCode(rc)) {
    case 0x902:
    case 0x903:
    case 0x904:
    case 0x905:
    case 0x906:
      return 'RESOURCE_EXHAUSTED';
    case 0x08e:
    case 0x0a2:
    case 0x921:
      return 'PIN_INCORRECT';
    case 0x09d:
    case 0x126:
    case 0x907:
      return 'PERMISSION_DENIED';
    case 0x09f:
      return 'DECRYPTION_FAILED';
    case 0x908:
    case 0x90a:
    case 0x922:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

/**
 * A command the TPM refused (`rc` is its TPM_RC), or a TPM that cannot be reached (`rc` 0). The code says what it
 * means for the caller: `RESOURCE_EXHAUSTED` (object or session slots full), `PIN_INCORRECT` (wrong authorization
 * value, or dictionary-attack lockout), `PERMISSION_DENIED` (a policy was not satisfied), `DECRYPTION_FAILED` (an
 * integrity check failed, e.g. a credential made for another TPM), `UNAVAILABLE` (the TPM is busy or unreachable),
 * `TIMEOUT`, `CLOSED`, `INTERNAL` (anything else; `details.rcName` names it).
 */
export class TpmError extends EcpsError {
  readonly rc: number;

  constructor(code: EcpsErrorCode, message: string, options: EcpsErrorOptions & { rc?: number } = {}) {
    super(code, message, options);
    this.name = 'TpmError';
    this.rc = options.rc ?? 0;
  }

  /** The error for a failed command. */
  static fromResponse(command: string, rc: number): TpmError {
    const rcName = responseCodeName(rc);
    return new TpmError(codeFor(rc), `${command} failed: ${rcName}`, { rc, details: { command, rc, rcName } });
  }
}
