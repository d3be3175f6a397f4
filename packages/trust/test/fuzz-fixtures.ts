// SPDX-License-Identifier: Apache-2.0
// Fixed keys, clock and helpers for the trust fuzz targets: every seed input is the same on every run, so a seed
// and a corpus file reproduce a failure exactly.
import { fileURLToPath } from 'node:url';
import { ManualClock, isEcpsError } from '@ecps/core';
import { expect } from '@jest/globals';
import { FuzzInvariantError, type FuzzReport } from '@ecps/testkit/fuzz';
import { IdentitySigner } from '../src/identity';
import { KeyDirectory } from '../src/key-directory';
import { SoftwareKeyProvider } from '../src/software-key-provider';

/** 2025-06-15, fixed: timestamps in seeds never go stale. */
export const fuzzClock = (): ManualClock => new ManualClock(1_750_000_000_000);

/** PKCS#8 of an Ed25519 or X25519 private key from a fixed 32-byte seed. */
function pkcs8(algorithm: 'ed25519' | 'x25519', fill: number): Uint8Array {
  const prefix = algorithm === 'ed25519' ? '302e020100300506032b657004220420' : '302e020100300506032b656e04220420';
  return new Uint8Array(Buffer.concat([Buffer.from(prefix, 'hex'), Buffer.alloc(32, fill)]));
}

export interface FuzzIdentities {
  readonly keys: KeyDirectory;
  readonly planner: IdentitySigner;
  /** A second enrolled node, for the session targets. */
  readonly arm: IdentitySigner;
  readonly fleet: SoftwareKeyProvider;
  readonly fleetPublicKey: Uint8Array;
}

/** Signers `planner` and `arm` known to the directory and the fleet's X25519 sealing key, all from fixed bytes. */
export async function fuzzIdentities(clock: ManualClock): Promise<FuzzIdentities> {
  const signing = new SoftwareKeyProvider();
  signing.importKey({ id: 'planner-k', algorithm: 'ed25519', material: pkcs8('ed25519', 7) });
  const planner = new IdentitySigner({ id: 'planner', keyId: 'planner-k', provider: signing });
  signing.importKey({ id: 'arm-k', algorithm: 'ed25519', material: pkcs8('ed25519', 11) });
  const arm = new IdentitySigner({ id: 'arm', keyId: 'arm-k', provider: signing });
  const keys = new KeyDirectory({ clock, keys: [await planner.trustedKey(), await arm.trustedKey()] });
  const fleet = new SoftwareKeyProvider();
  const info = fleet.importKey({ id: 'fleet-2026', algorithm: 'x25519', material: pkcs8('x25519', 9) });
  return { keys, planner, arm, fleet, fleetPublicKey: info.publicKey! };
}

/** The documented refusal of every trust parser: an ECPS error with a code. */
export const isTypedRefusal = (error: unknown): boolean => isEcpsError(error);

/** Fails the target when an accepted input produced something other than what a genuine sender sent. */
export function expectGenuine(condition: boolean, what: string): void {
  if (!condition) throw new FuzzInvariantError(what);
}

/** Where a target's regression inputs live (see fuzz-corpus/README.md). */
export const corpusDir = (target: string): string => fileURLToPath(new URL(`../fuzz-corpus/${target}/`, import.meta.url));

/** The Jest timeout for a target run: its budget plus room for setup and shrinking. */
export const fuzzTimeout = (): number => Number(process.env['ECPS_FUZZ_MS'] ?? 2000) * 2 + 30_000;

/** Asserts a clean run; a failure shows its (shrunk) input and error in the test output. */
export function expectClean(report: FuzzReport): void {
  expect(report.failure).toBeUndefined();
  expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
  expect(report.iterations).toBeGreaterThan(0);
}
