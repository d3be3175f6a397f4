// SPDX-License-Identifier: Apache-2.0
// The TPM 2.0 constants this package uses (TPM 2.0 Library, Part 2: Structures), by their specification names.

export const TPM_ST = {
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
  ATTEST_QUOTE: 0x8018,
  HASHCHECK: 0x8024,
} as const;

/** `TPM_GENERATED_VALUE`: the magic of every structure the TPM signs about itself. */
export const TPM_GENERATED_VALUE = 0xff544347;

export const TPM_CC = {
  CreatePrimary: 0x131,
  Startup: 0x144,
  ActivateCredential: 0x147,
  PolicySecret: 0x151,
  Create: 0x153,
  Load: 0x157,
  Quote: 0x158,
  SequenceUpdate: 0x15c,
  Sign: 0x15d,
  SequenceComplete: 0x13e,
  FlushContext: 0x165,
  ReadPublic: 0x173,
  StartAuthSession: 0x176,
  GetCapability: 0x17a,
  PCR_Read: 0x17e,
  PCR_Extend: 0x182,
  HashSequenceStart: 0x186,
} as const;

export const TPM_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  /** The password authorization session. */
  PW: 0x40000009,
  ENDORSEMENT: 0x4000000b,
} as const;

/** First handle of each range (`TPM_HT_* << 24`). */
export const TPM_HANDLE_RANGE = {
  LOADED_SESSION: 0x02000000,
  TRANSIENT: 0x80000000,
} as const;

export const TPM_CAP_HANDLES = 0x00000001;
export const TPM_SU_CLEAR = 0x0000;
export const TPM_SE_POLICY = 0x01;

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  AES: 0x0006,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

export const TPM_ECC_NIST_P256 = 0x0003;

/** TPMA_OBJECT bits. */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** TPMA_SESSION `continueSession`. */
export const TPMA_SESSION_CONTINUE = 0x01;

/** Hash algorithms by TPM id: node:crypto name and digest size. */
export const HASHES: Readonly<Record<number, { name: string; size: number }>> = {
  [TPM_ALG.SHA1]: { name: 'sha1', size: 20 },
  [TPM_ALG.SHA256]: { name: 'sha256', size: 32 },
  [TPM_ALG.SHA384]: { name: 'sha384', size: 48 },
  [TPM_ALG.SHA512]: { name: 'sha512', size: 64 },
};

/** PCR banks by name, as the API spells them. */
export const PCR_BANKS = { sha1: TPM_ALG.SHA1, sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384, sha512: TPM_ALG.SHA512 } as const;
export type PcrBank = keyof typeof PCR_BANKS;
