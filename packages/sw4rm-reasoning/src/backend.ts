// SPDX-License-Identifier: Apache-2.0
// The ReasoningProxy backend contract: plug in a model service here; throw EcpsError UNAVAILABLE when it is down
// (callers then serialise or escalate, spec §3.3).
import type { DebateEvaluateRequest, SummarizeRequest } from '@ecps/sw4rm/proto';

/** What ReasoningProxy asks of its backend. Scores are in [0,1]. */
export interface ReasoningBackend {
  checkParallelism(scopeA: string, scopeB: string): Promise<{ confidence: number; notes: string }>;
  evaluateDebate(request: DebateEvaluateRequest): Promise<{ confidence: number; notes: string }>;
  summarize(request: SummarizeRequest): Promise<{ summary: string; tokens: number; costCents: number; model: string }>;
}
