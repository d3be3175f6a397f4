// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the attestation report a controller receives from a device (JSON), through the whole quote check
// (report decoding, TPMS_ATTEST, TPMT_SIGNATURE, public area, measurement log, policy).
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { ManualClock, isEcpsError } from '@ecps/core';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { bootPolicy, measurementDigest, replayMeasurements, type Measurement } from '../src/measured-boot';
import { decodeReport, encodeReport } from '../src/report-json';
import { verifyQuoteReport } from '../src/verifier';
import { softwareAttester } from './software-attester';

const clock = new ManualClock(1_750_000_000_000);
const nonce = new Uint8Array(32).fill(3);
const chain: Measurement[] = [
  { name: 'firmware', pcr: 0, digest: measurementDigest('fw') },
  { name: 'image', pcr: 8, digest: measurementDigest('img') },
];
const policy = bootPolicy(chain);
const attester = softwareAttester();
const name = 'trust-tpm-quote-report';

function target(): FuzzTarget {
  const genuine = attester.report(nonce, { pcrs: replayMeasurements(chain), log: chain, timestampMs: clock.now() });
  const unpolicied = attester.report(nonce, { pcrs: replayMeasurements(chain.slice(0, 1)), log: chain.slice(0, 1), timestampMs: clock.now() });
  return {
    name,
    seeds: [encodeReport(genuine), encodeReport(unpolicied), ...loadCorpus(fileURLToPath(new URL(`../fuzz-corpus/${name}/`, import.meta.url)))],
    isExpected: (error) => isEcpsError(error),
    run(input) {
      const verified = verifyQuoteReport(decodeReport(input), { ak: attester.ak, nonce, policy, clock });
      // accepted only what the device quoted: exactly the policy's chain, replaying to the quoted PCRs
      if (JSON.stringify(verified.log) !== JSON.stringify(chain)) throw new FuzzInvariantError('accepted a log the device did not measure');
      const expected = replayMeasurements(chain);
      for (const [pcr, value] of expected) {
        if (verified.pcrs[pcr] !== Buffer.from(value).toString('hex')) throw new FuzzInvariantError(`accepted a wrong PCR ${pcr}`);
      }
    },
  };
}

describe('fuzz: TPM quote report', () => {
  it('only typed refusals, and nothing accepted but what the TPM quoted', async () => {
    const report = await runFuzzTarget(target());
    expect(report.failure).toBeUndefined();
    expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
    expect(report.iterations).toBeGreaterThan(0);
  }, Number(process.env['ECPS_FUZZ_MS'] ?? 2000) * 2 + 30_000);
});
