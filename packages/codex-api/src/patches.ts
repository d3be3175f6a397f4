// SPDX-License-Identifier: Apache-2.0
// Self-enhancement patch proposals: proposed → approved → applied, or rejected; the approver is never the proposer.
// Applying only records the decision; no file is changed.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Mutex } from 'async-mutex';
import { atomicWriteFile, CodexError } from '@ecps/codex-registry';
import { systemClock, type Clock } from '@ecps/core';
import { ApiError } from './errors';

export const PATCH_STATUSES = ['proposed', 'approved', 'applied', 'rejected'] as const;
export type PatchStatus = (typeof PATCH_STATUSES)[number];

export interface PatchProposal {
  proposal_id: string;
  title: string;
  goal: string;
  created_at: string;
  status: PatchStatus;
  diff: string;
  rationale: string;
  risks: string[];
  tests: string[];
  /** The authenticated subject who proposed it. */
  proposer: string;
  reviewer?: string;
  approved_at?: string;
  applied_at?: string;
  rejected_at?: string;
}

export interface NewPatch {
  title: string;
  goal: string;
  diff: string;
  rationale: string;
  risks: string[];
  tests: string[];
}

/** Where proposals are kept: `codex32_patch_proposals.json` as `{proposals: [...]}`, rewritten atomically. */
export class PatchProposals {
  private readonly mutex = new Mutex();

  private constructor(
    private readonly file: string,
    private proposals: PatchProposal[],
    private readonly clock: Clock,
  ) {}

  /** Throws `CodexError` `registry_corrupt` for a file that is not a proposals file. */
  static async open(file: string, clock: Clock = systemClock): Promise<PatchProposals> {
    let proposals: PatchProposal[] = [];
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { proposals?: unknown };
      if (!Array.isArray(parsed.proposals)) throw new Error('no proposals array');
      proposals = parsed.proposals as PatchProposal[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CodexError('registry_corrupt', `patch proposals file ${file} is corrupt`, { cause: error });
    }
    return new PatchProposals(file, proposals, clock);
  }

  list(): PatchProposal[] {
    return structuredClone(this.proposals);
  }

  /** Throws `ApiError` `not_found`. */
  get(id: string): PatchProposal {
    const found = this.proposals.find((p) => p.proposal_id === id);
    if (!found) throw new ApiError('not_found', `no patch proposal ${id}`);
    return structuredClone(found);
  }

  propose(input: NewPatch, proposer: string): Promise<PatchProposal> {
    const now = new Date(this.clock.now()).toISOString();
    const digest = createHash('sha256').update(`${input.title}|${input.goal}|${now}|${this.proposals.length}`).digest('hex');
    const proposal: PatchProposal = { proposal_id: `patch-${digest.slice(0, 12)}`, ...input, created_at: now, status: 'proposed', proposer };
    return this.mutate((all) => {
      all.push(proposal);
      return proposal;
    });
  }

  /**
   * Moves a proposal along: `approve` (proposed → approved, by someone other than the proposer, else `forbidden`),
   * `reject` (proposed|approved → rejected, the reason appended to `rationale`), `apply` (approved → applied, the diff
   * must contain `*** Begin Patch`, else `validation_error`). Anything else is `invalid_transition`.
   */
  decide(id: string, action: 'approve' | 'reject' | 'apply', reviewer: string, reason?: string): Promise<PatchProposal> {
    return this.mutate((all) => {
      const proposal = all.find((p) => p.proposal_id === id);
      if (!proposal) throw new ApiError('not_found', `no patch proposal ${id}`);
      const now = new Date(this.clock.now()).toISOString();
      const illegal = () => new ApiError('invalid_transition', `cannot ${action} a proposal that is ${proposal.status}`);
      if (action === 'approve') {
        if (proposal.status !== 'proposed') throw illegal();
        if (proposal.proposer === reviewer) throw new ApiError('forbidden', 'the approver must differ from the proposer');
        Object.assign(proposal, { status: 'approved', approved_at: now, reviewer });
      } else if (action === 'reject') {
        if (proposal.status !== 'proposed' && proposal.status !== 'approved') throw illegal();
        Object.assign(proposal, { status: 'rejected', rejected_at: now, reviewer, rationale: `${proposal.rationale}${reason ? `\nRejected: ${reason}` : ''}` });
      } else {
        if (proposal.status !== 'approved') throw illegal();
        if (!proposal.diff.includes('*** Begin Patch')) throw new ApiError('validation_error', 'the diff must contain *** Begin Patch');
        Object.assign(proposal, { status: 'applied', applied_at: now });
      }
      return proposal;
    });
  }

  private mutate<T>(fn: (all: PatchProposal[]) => T): Promise<T> {
    return this.mutex.runExclusive(async () => {
      const next = structuredClone(this.proposals);
      const result = fn(next);
      await atomicWriteFile(this.file, Buffer.from(JSON.stringify({ proposals: next }, null, 4)));
      this.proposals = next;
      return structuredClone(result);
    });
  }
}
