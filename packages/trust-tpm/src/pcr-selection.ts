// SPDX-License-Identifier: Apache-2.0
// TPML_PCR_SELECTION: which PCRs of which banks a quote or a read covers.
import { TrustError } from '@ecps/trust';
import { HASHES } from './constants';
import type { TpmReader, TpmWriter } from './marshal';

/** PCRs per bank: `[{ hash: TPM_ALG.SHA256, pcrs: [0, 4, 8] }]`. */
export interface PcrSelection {
  readonly hash: number;
  readonly pcrs: readonly number[];
}

/** PCR indexes a TPM 2.0 PC-client platform has (0..23). */
export const PCR_COUNT = 24;

/** @throws TrustError `INVALID_ARGUMENT` for an index outside 0..23 or a repeated one. */
export function checkPcrIndexes(pcrs: readonly number[]): void {
  const seen = new Set<number>();
  for (const pcr of pcrs) {
    if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_COUNT) throw new TrustError('INVALID_ARGUMENT', `PCR index ${pcr} is outside 0..${PCR_COUNT - 1}`);
    if (seen.has(pcr)) throw new TrustError('INVALID_ARGUMENT', `PCR ${pcr} selected twice`);
    seen.add(pcr);
  }
}

export function writePcrSelection(w: TpmWriter, selection: readonly PcrSelection[]): void {
  w.u32(selection.length);
  for (const bank of selection) {
    checkPcrIndexes(bank.pcrs);
    const bitmap = new Uint8Array(PCR_COUNT / 8);
    for (const pcr of bank.pcrs) bitmap[pcr >> 3]! |= 1 << (pcr & 7);
    w.u16(bank.hash).u8(bitmap.length).raw(bitmap);
  }
}

/**
 * Reads a TPML_PCR_SELECTION; PCRs come out in ascending order, the order in which the TPM digests them.
 * @throws TrustError `DECODE_ERROR` for more than 16 banks or a bitmap larger than 32 bytes.
 */
export function readPcrSelection(r: TpmReader): PcrSelection[] {
  const count = r.u32();
  if (count > 16) throw new TrustError('DECODE_ERROR', `PCR selection of ${count} banks`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16();
    const size = r.u8();
    if (size > 32) throw new TrustError('DECODE_ERROR', `PCR bitmap of ${size} bytes`);
    const bitmap = r.raw(size);
    const pcrs: number[] = [];
    for (let pcr = 0; pcr < size * 8; pcr++) if (bitmap[pcr >> 3]! & (1 << (pcr & 7))) pcrs.push(pcr);
    out.push({ hash, pcrs });
  }
  return out;
}

/** The selection with each bank's PCRs sorted (the TPM's order); compares selections regardless of how they were written. */
export function normalizeSelection(selection: readonly PcrSelection[]): PcrSelection[] {
  return selection.map((bank) => ({ hash: bank.hash, pcrs: [...bank.pcrs].sort((a, b) => a - b) }));
}

/** Whether two selections name the same banks in the same order and the same PCRs. */
export function sameSelection(a: readonly PcrSelection[], b: readonly PcrSelection[]): boolean {
  const x = normalizeSelection(a);
  const y = normalizeSelection(b);
  return x.length === y.length && x.every((bank, i) => bank.hash === y[i]!.hash && bank.pcrs.join() === y[i]!.pcrs.join());
}

/** Digest size of a PCR bank. @throws TrustError `MECHANISM_UNSUPPORTED` for an unknown hash. */
export function bankDigestSize(hash: number): number {
  const h = HASHES[hash];
  if (!h) throw new TrustError('MECHANISM_UNSUPPORTED', `unknown PCR bank hash 0x${hash.toString(16)}`);
  return h.size;
}
