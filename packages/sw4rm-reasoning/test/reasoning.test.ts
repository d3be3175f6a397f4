// SPDX-License-Identifier: Apache-2.0
// ReasoningProxy over real gRPC with the deterministic backend, and UNAVAILABLE when a backend is down.
import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { EcpsError } from '@ecps/core';
import { createClient } from '@ecps/sw4rm';
import { HEURISTIC_MODEL, startReasoning } from '../src/index';

describe('ReasoningProxy over gRPC (spec §3.14)', () => {
  it('scores parallelism of scopes, debate agreement and summarises within the token budget', async () => {
    const running = await startReasoning({ port: 0 });
    const r = createClient('reasoning', `127.0.0.1:${running.port}`);
    try {
      expect(await r.checkParallelism({ scopeA: 'repo:app src/ui/**', scopeB: 'repo:app src/db/**' })).toEqual({ confidenceScore: 1, notes: 'disjoint paths' });
      expect(await r.checkParallelism({ scopeA: 'repo:app src/**', scopeB: 'repo:infra src/**' })).toEqual({ confidenceScore: 1, notes: 'different repositories' });
      const clash = await r.checkParallelism({ scopeA: 'src/db/**, docs/a.md', scopeB: 'src/db/schema.sql' });
      expect(clash.confidenceScore).toBeCloseTo(0.25, 10);
      expect(clash.notes).toBe('overlapping: src/db ~ src/db/schema.sql');
      expect((await r.checkParallelism({ scopeA: '', scopeB: 'src' })).confidenceScore).toBe(0);

      const same = await r.evaluateDebate({ negotiationId: 'n', proposalA: 'Use PostgreSQL with a read replica', proposalB: 'use postgresql with a read replica', intensity: 'MEDIUM' });
      expect(same.confidenceScore).toBeCloseTo(1, 10);
      const apart = await r.evaluateDebate({ negotiationId: 'n', proposalA: 'Use PostgreSQL with a read replica', proposalB: 'Use SQLite embedded in the agent', intensity: 'MEDIUM' });
      const strict = await r.evaluateDebate({ negotiationId: 'n', proposalA: 'Use PostgreSQL with a read replica', proposalB: 'Use SQLite embedded in the agent', intensity: 'HIGHEST' });
      expect(apart.confidenceScore).toBeGreaterThan(0);
      expect(apart.confidenceScore).toBeLessThan(0.5);
      expect(strict.confidenceScore).toBeCloseTo(apart.confidenceScore ** 2, 10);

      const text = 'The router stores every message durably. Acks release rows. The weather was nice. Durable rows survive a crash of the router.';
      const s = await r.summarize({ sessionId: 's', segments: [{ kind: 'log', content: text, seq: 1, at: '' }], maxTokens: 14, mode: 'extractive' });
      expect(s).toMatchObject({ model: HEURISTIC_MODEL, costCents: 0 });
      expect(s.tokens).toBeLessThanOrEqual(14);
      expect(s.summary).toContain('router');
      expect(s.summary).not.toContain('weather');
    } finally {
      r.close();
      await running.stop();
    }
  });

  it('a backend that is down answers UNAVAILABLE; scores outside [0,1] are refused', async () => {
    const down = await startReasoning({
      port: 0,
      backend: {
        checkParallelism: async () => {
          throw new EcpsError('UNAVAILABLE', 'model server refused the connection');
        },
        evaluateDebate: async () => ({ confidence: 7, notes: 'not a probability' }),
        summarize: async () => ({ summary: '', tokens: 0, costCents: 0, model: 'x' }),
      },
    });
    const r = createClient('reasoning', `127.0.0.1:${down.port}`, { attempts: 1 });
    try {
      await expect(r.checkParallelism({ scopeA: 'a', scopeB: 'b' })).rejects.toMatchObject({ grpcCode: status.UNAVAILABLE });
      await expect(r.evaluateDebate({ proposalA: 'a', proposalB: 'b' })).rejects.toMatchObject({ grpcCode: status.UNAVAILABLE });
    } finally {
      r.close();
      await down.stop();
    }
  });
});
