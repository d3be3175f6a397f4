// SPDX-License-Identifier: Apache-2.0
// The issuer side of a deployment (spec §7): counts targets (nodes it believes are in scope, plus any that
// reported pending), watches their reports, and decides once: when every target is terminal, at the deadline
// (unfinished targets count as failed), or as soon as the threshold can no longer be reached. Below the threshold
// it issues a rollback control.
import { isTerminal } from './directive';
import type { DeploymentControl, DeploymentDirective, DeploymentState, DeploymentStatus } from './directive';

export interface DeploymentOutcome {
  readonly success_percent: number;
  readonly targets: number;
  readonly active: number;
  /** The control to write (`deployment_controls:<id>`), or null when no rollback is due. */
  readonly rollback: DeploymentControl | null;
}

export class DeploymentTracker {
  private readonly states = new Map<string, DeploymentState>();
  private outcome: DeploymentOutcome | null = null;
  private readonly deadline: number;

  constructor(
    private readonly directive: DeploymentDirective,
    believedTargets: readonly string[],
  ) {
    for (const id of believedTargets) this.states.set(id, 'pending');
    this.deadline = Date.parse(directive.issued_at) + directive.options.timeout_seconds * 1000;
  }

  /** Records a report (any node that reports becomes a target). */
  onStatus(status: DeploymentStatus): void {
    if (status.directive_id !== this.directive.directive_id) return;
    const old = this.states.get(status.node_id);
    if (old && isTerminal(old) && !isTerminal(status.state)) return; // a late, older report
    this.states.set(status.node_id, status.state);
  }

  /** The decision, once it can be made (and the same one afterwards); undefined while still open. */
  decide(now: number): DeploymentOutcome | undefined {
    if (this.outcome) return this.outcome;
    const targets = this.states.size;
    const states = [...this.states.values()];
    const active = states.filter((s) => s === 'active').length;
    const open = states.filter((s) => !isTerminal(s)).length;
    const threshold = this.directive.options.rollback_threshold_percent;
    const pct = (n: number) => (targets === 0 ? 100 : (100 * n) / targets);
    const unreachable = threshold !== null && pct(active + open) < threshold;
    if (open > 0 && now < this.deadline && !unreachable) return undefined;
    const success = pct(active);
    const rollback =
      threshold !== null && success < threshold
        ? { action: 'rollback' as const, issued_at: new Date(now).toISOString(), issuer_node_id: this.directive.issuer_node_id, reason: `success ${success.toFixed(1)} % below ${threshold} %` }
        : null;
    this.outcome = { success_percent: success, targets, active, rollback };
    return this.outcome;
  }
}
