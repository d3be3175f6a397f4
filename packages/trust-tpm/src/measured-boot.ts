// SPDX-License-Identifier: Apache-2.0
// Measured boot: each stage of a boot chain (firmware, bootloader, image, config) is hashed and extended into a
// PCR before it runs, and recorded in a measurement log. A verifier replays the log to check it explains the quoted
// PCRs, then compares it with the expected chain, naming the first stage that differs.
import { createHash } from 'node:crypto';
import { toHex } from '@ecps/core';
import { TrustError } from '@ecps/trust';
import { checkPcrIndexes } from './pcr-selection';

/** One measured stage: its name, the PCR it was extended into, and the SHA-256 digest extended (hex). */
export interface Measurement {
  readonly name: string;
  readonly pcr: number;
  readonly digest: string;
}

/** The expected boot chain, in order: what a device must have measured to be accepted. */
export interface BootPolicy {
  readonly chain: readonly Measurement[];
}

/** Most measurements a log may hold (bounds what a verifier parses and replays). */
export const MAX_MEASUREMENTS = 1024;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const DIGEST = /^[0-9a-f]{64}$/;

/** @throws TrustError `INVALID_ARGUMENT` for a bad name (1..64 of `A-Za-z0-9._-`), PCR index or digest (64 lowercase hex). */
export function checkMeasurement(m: Measurement): Measurement {
  if (!NAME.test(m.name)) throw new TrustError('INVALID_ARGUMENT', `measurement name ${JSON.stringify(m.name)} must be 1..64 of A-Za-z0-9._-`);
  checkPcrIndexes([m.pcr]);
  if (!DIGEST.test(m.digest)) throw new TrustError('INVALID_ARGUMENT', `measurement ${m.name}: digest must be 64 lowercase hex characters`);
  return m;
}

/** SHA-256 of a stage's bytes, as hex: the digest a measurement extends. */
export function measurementDigest(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A policy expecting exactly these stages, in this order. @throws TrustError `INVALID_ARGUMENT` for a bad stage. */
export function bootPolicy(chain: readonly Measurement[]): BootPolicy {
  if (chain.length === 0 || chain.length > MAX_MEASUREMENTS) throw new TrustError('INVALID_ARGUMENT', `a boot policy needs 1..${MAX_MEASUREMENTS} stages`);
  return { chain: chain.map((m) => checkMeasurement({ ...m })) };
}

/** The PCRs a policy covers, ascending. */
export function policyPcrs(policy: BootPolicy): number[] {
  return [...new Set(policy.chain.map((m) => m.pcr))].sort((a, b) => a - b);
}

/** SHA-256 PCR values after extending `log` in order into PCRs that started at zero. */
export function replayMeasurements(log: readonly Measurement[]): Map<number, Uint8Array> {
  const pcrs = new Map<number, Uint8Array>();
  for (const m of log) {
    const current = pcrs.get(m.pcr) ?? new Uint8Array(32);
    pcrs.set(m.pcr, new Uint8Array(createHash('sha256').update(current).update(Buffer.from(m.digest, 'hex')).digest()));
  }
  return pcrs;
}

/** Where a log first departs from a policy: the stage expected there and what was measured instead. */
export interface MeasurementMismatch {
  /** The name of the first stage that differs (the expected stage's name, or the extra one's when the log is longer). */
  readonly measurement: string;
  readonly index: number;
  readonly expected?: Measurement;
  readonly actual?: Measurement;
}

/** The first stage where `log` differs from the policy's chain (name, PCR or digest), or undefined when it matches. */
export function firstMismatch(log: readonly Measurement[], policy: BootPolicy): MeasurementMismatch | undefined {
  const n = Math.max(log.length, policy.chain.length);
  for (let i = 0; i < n; i++) {
    const expected = policy.chain[i];
    const actual = log[i];
    if (expected && actual && expected.name === actual.name && expected.pcr === actual.pcr && expected.digest === actual.digest) continue;
    return { measurement: (expected ?? actual)!.name, index: i, ...(expected ? { expected } : {}), ...(actual ? { actual } : {}) };
  }
  return undefined;
}

/** Hex of PCR values by index, for reports and errors. */
export function pcrValuesHex(values: ReadonlyMap<number, Uint8Array>): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [pcr, value] of [...values].sort(([a], [b]) => a - b)) out[pcr] = toHex(value);
  return out;
}
