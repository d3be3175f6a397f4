// SPDX-License-Identifier: Apache-2.0
// Fuzz target: a JWT as a service receives it (any bytes as the token string) through verifyToken.
import { describe, expect, it } from '@jest/globals';
import { createPrivateKey } from 'node:crypto';
import { loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { JwtKeyRing, issueToken, verifyToken } from '../src/jwt';
import type { Principal } from '../src/rbac';
import { corpusDir, expectClean, expectGenuine, fuzzClock, fuzzTimeout, isTypedRefusal } from './fuzz-fixtures';

const clock = fuzzClock();
const alice: Principal = { id: 'alice', kind: 'user', name: 'Alice', roles: ['robot_operator', 'viewer'], attributes: { site: 'lab-1' } };

async function target(): Promise<FuzzTarget> {
  const ed = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 3)]), format: 'der', type: 'pkcs8' });
  const ring = new JwtKeyRing({ kid: 'h', alg: 'HS256', key: new Uint8Array(32).fill(4) }, clock);
  const hsToken = await issueToken(alice, { ring, issuer: 'ecps', audience: 'fleet', clock });
  ring.rotate({ kid: 'e', alg: 'EdDSA', key: ed }, 3600_000);
  const edToken = await issueToken(alice, { ring, issuer: 'ecps', audience: ['fleet', 'lab'], clock, ttlSeconds: 60 });
  const name = 'trust-jwt';
  return {
    name,
    seeds: [...[hsToken, edToken].map((t) => new TextEncoder().encode(t)), ...loadCorpus(corpusDir(name))],
    isExpected: isTypedRefusal,
    maxLength: 1024,
    async run(input) {
      const token = Buffer.from(input).toString('latin1');
      const principal = await verifyToken(token, { ring, algorithms: ['EdDSA', 'HS256'], issuer: 'ecps', audience: 'fleet', clock });
      // only the issued tokens (in whatever equivalent encoding) may verify, and only as what they said
      expectGenuine(principal.id === 'alice', `verified a token for ${principal.id}`);
      expectGenuine(principal.roles.join(',') === 'robot_operator,viewer', `verified roles ${principal.roles.join(',')}`);
    },
  };
}

describe('fuzz: JWT', () => {
  it('only typed refusals, and nothing verified that was not issued', async () => {
    expectClean(await runFuzzTarget(await target()));
  }, fuzzTimeout());
});
