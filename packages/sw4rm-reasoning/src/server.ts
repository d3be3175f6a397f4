// SPDX-License-Identifier: Apache-2.0
// Serving ReasoningProxy (+ health). Scores from any backend are checked to lie in [0,1]; a backend failure
// becomes UNAVAILABLE.
import { EcpsError, ValidationError, isEcpsError } from '@ecps/core';
import { hostServices } from '@ecps/sw4rm';
import type { Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { ReasoningProxyService } from '@ecps/sw4rm/proto';
import type { DebateEvaluateRequest, ParallelismCheckRequest, SummarizeRequest } from '@ecps/sw4rm/proto';
import type { ReasoningBackend } from './backend';
import { HeuristicReasoning } from './heuristic-backend';

/** Limits on request sizes (memory and CPU stay bounded whatever a caller sends). */
export const REASONING_LIMITS = { textBytes: 1024 * 1024, segments: 10_000 } as const;

async function guarded<T extends object>(fn: () => Promise<T>): Promise<T> {
  let out: T;
  try {
    out = await fn();
  } catch (err) {
    if (isEcpsError(err) && err.code === 'INVALID_ARGUMENT') throw err;
    throw new EcpsError('UNAVAILABLE', `reasoning backend unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const confidence = (out as { confidence?: number }).confidence;
  if (confidence !== undefined && !(confidence >= 0 && confidence <= 1)) throw new EcpsError('UNAVAILABLE', `reasoning backend returned a score outside [0,1]: ${confidence}`);
  return out;
}

function limit(...texts: string[]): void {
  if (texts.reduce((n, t) => n + t.length, 0) > REASONING_LIMITS.textBytes) throw new ValidationError('INVALID_ARGUMENT', `request text over ${REASONING_LIMITS.textBytes} bytes`);
}

/** Adds ReasoningProxy over `backend` to `server`. */
export function addReasoningService(server: Sw4rmServer, backend: ReasoningBackend): void {
  server.addUnaryService('sw4rm.reasoning.ReasoningProxy', ReasoningProxyService, {
    checkParallelism: (q: never) => {
      const r = q as ParallelismCheckRequest;
      limit(r.scopeA, r.scopeB);
      return guarded(() => backend.checkParallelism(r.scopeA, r.scopeB)).then((x) => ({ confidenceScore: x.confidence, notes: x.notes }));
    },
    evaluateDebate: (q: never) => {
      const r = q as DebateEvaluateRequest;
      limit(r.proposalA, r.proposalB);
      return guarded(() => backend.evaluateDebate(r)).then((x) => ({ confidenceScore: x.confidence, notes: x.notes }));
    },
    summarize: (q: never) => {
      const r = q as SummarizeRequest;
      if (r.segments.length > REASONING_LIMITS.segments) return Promise.reject(new ValidationError('INVALID_ARGUMENT', `over ${REASONING_LIMITS.segments} segments`));
      limit(...r.segments.map((s) => s.content));
      return guarded(() => backend.summarize(r));
    },
  });
}

/** Options of {@link startReasoning}. */
export interface StartReasoningOptions extends HostingOptions {
  /** Default: the deterministic {@link HeuristicReasoning}. */
  backend?: ReasoningBackend;
}

/** Starts ReasoningProxy. @throws EcpsError IO_ERROR when the port cannot be bound. */
export function startReasoning(options: StartReasoningOptions = {}): Promise<Hosted> {
  const backend = options.backend ?? new HeuristicReasoning();
  return hostServices(options, 50053, (s: Sw4rmServer) => addReasoningService(s, backend));
}
