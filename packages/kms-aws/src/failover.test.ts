// SPDX-License-Identifier: Apache-2.0
// Two regions of one service (two AWS KMS test servers over one replicated key store): when the preferred region
// stops answering, calls move to the other within one attempt timeout and stay there until it is back.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { SoftKms, startAwsKmsServer } from '@ecps/testkit/kms';
import type { AwsKmsServer } from '@ecps/testkit/kms';
import { awsKmsKeyProvider } from './index';
import type { KmsKeyProvider } from '@ecps/kms';

const ATTEMPT_TIMEOUT_MS = 1500;
let east: AwsKmsServer;
let west: AwsKmsServer;
let kms: KmsKeyProvider;
const total = (s: AwsKmsServer): number => [...s.counts.values()].reduce((a, b) => a + b, 0);

beforeAll(async () => {
  const replicated = new SoftKms();
  east = await startAwsKmsServer({ engine: replicated, region: 'us-east-1' });
  west = await startAwsKmsServer({ engine: replicated, region: 'us-west-2', ...east.credentials });
  kms = awsKmsKeyProvider({
    regions: [
      { region: east.region, endpoint: east.url, credentials: east.credentials },
      { region: west.region, endpoint: west.url, credentials: west.credentials },
    ],
    attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
    downForMs: 2500,
    maxAttempts: 2,
    initialBackoffMs: 5,
  });
  await kms.generateKey('fleet-logs', 'aes-256-gcm');
});
afterAll(async () => {
  await kms.close();
  await Promise.all([east.close(), west.close()]);
});

it('moves to the second region within one attempt timeout when the first stops answering, and back when it returns', async () => {
  const before = await kms.encrypt('fleet-logs', { plaintext: new Uint8Array([1, 2, 3]) });
  expect(total(west)).toBe(0);

  east.stopAnswering();
  const eastBefore = total(east);
  const started = performance.now();
  expect(await kms.decrypt('fleet-logs', before)).toEqual(new Uint8Array([1, 2, 3])); // made in east, opened in west
  const failoverMs = performance.now() - started;
  expect(total(west)).toBe(1);
  expect(kms.unavailableEndpoints).toEqual([east.url]);
  // a bound, not a speed figure: one attempt timeout plus the second region's answer (generous for a loaded machine)
  expect(failoverMs).toBeLessThan(ATTEMPT_TIMEOUT_MS + 5000);

  expect(total(east)).toBe(eastBefore + 1); // the one request left hanging
  // later calls go straight to the healthy region: no second wait on the silent one
  const sealed = await kms.encrypt('fleet-logs', { plaintext: new Uint8Array([4]) });
  expect(await kms.decrypt('fleet-logs', sealed)).toEqual(new Uint8Array([4]));
  expect(total(west)).toBe(3);
  expect(total(east)).toBe(eastBefore + 1);

  east.resumeAnswering();
  await new Promise((resolve) => setTimeout(resolve, 2600)); // downForMs has passed
  await kms.encrypt('fleet-logs', { plaintext: new Uint8Array([5]) });
  expect(total(east)).toBe(eastBefore + 2);
  expect(kms.unavailableEndpoints).toEqual([]);
});

it('with every region silent, the call fails with UNAVAILABLE after its attempts', async () => {
  east.stopAnswering();
  west.stopAnswering();
  try {
    await expect(kms.encrypt('fleet-logs', { plaintext: new Uint8Array([1]) })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  } finally {
    east.resumeAnswering();
    west.resumeAnswering();
  }
});
