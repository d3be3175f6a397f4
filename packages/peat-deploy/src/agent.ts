// SPDX-License-Identifier: Apache-2.0
// The node side of a deployment (spec §7): accept a directive that matches this node, report `pending` at once,
// download and verify the artifact, activate it through a RuntimeAdapter, and report every state change (progress
// at most once a second). Transfers take turns by priority; a `critical` directive pauses lower-priority transfers,
// which resume from their checkpoint afterwards. A directive not active within its timeout fails. A rollback
// control deactivates the new instance and brings back the one it replaced, from the previous artifact.
import type { Clock, TimerHandle } from '@ecps/core';
import { silentLogger } from '@ecps/core';
import type { Logger } from '@ecps/core';
import { KNOWN_ARTIFACT_TYPES, expectedSha256 } from './directive';
import type { ArtifactType, DeploymentControl, DeploymentDirective, DeploymentPriority, DeploymentState, DeploymentStatus } from './directive';
import { TRANSFER_PROFILES, fetchBlob } from './blob-store';
import type { BlobStore, FolderBlobStore, TransferProfile } from './blob-store';
import { matchesScope } from './scope';
import type { NodeProfile } from './scope';

export type InstanceState =
  | { readonly type: 'Starting' }
  | { readonly type: 'Running' }
  | { readonly type: 'Degraded'; readonly reason: string }
  | { readonly type: 'Stopped' }
  | { readonly type: 'Failed'; readonly error: string };

/** Runs artifacts of the types it handles (ONNX runtimes, container engines, process supervisors, ...). */
export interface RuntimeAdapter {
  readonly name: string;
  canHandle(type: ArtifactType): boolean;
  /** Starts the artifact at `localPath`; resolves with an instance id. */
  activate(type: ArtifactType, config: unknown, localPath: string): Promise<string>;
  deactivate(instanceId: string): Promise<void>;
  health(instanceId: string): Promise<InstanceState>;
}

export interface DeploymentAgentOptions {
  readonly nodeId: string;
  readonly clock: Clock;
  /** This node as scope matching sees it (read at each directive). */
  readonly profile: () => NodeProfile;
  /** Where artifacts are fetched from (a peer, an HTTP mirror, or the local folder itself). */
  readonly source: BlobStore;
  /** The node's own content-addressed folder. */
  readonly local: FolderBlobStore;
  readonly adapters: readonly RuntimeAdapter[];
  /** Receives every status report (write it to `deployment_status:<directive>:<node>`). */
  readonly report: (status: DeploymentStatus) => void;
  /** Chunk size and checkpoint interval of downloads. Default {@link TRANSFER_PROFILES}.tactical. */
  readonly transfer?: TransferProfile;
  /** Downloads at a time; the others wait, highest priority first. Default 1. */
  readonly maxConcurrentTransfers?: number;
  readonly logger?: Logger;
}

const PRIORITY_RANK: Readonly<Record<DeploymentPriority, number>> = { critical: 0, high: 1, normal: 2, low: 3 };

interface Instance {
  readonly directiveId: string;
  readonly name: string | null;
  readonly adapter: RuntimeAdapter;
  readonly type: ArtifactType;
  readonly config: unknown;
  readonly path: string;
  readonly capabilities: readonly string[];
  instanceId: string;
}

interface Run {
  readonly directive: DeploymentDirective;
  state: DeploymentState;
  progress: number;
  lastProgressReport: number;
  instance: Instance | null;
  /** The instance this one replaced (stopped once this became active), to restore on rollback. */
  replaced: Instance | null;
  path: string | null;
  readonly abort: AbortController;
  timer: TimerHandle | undefined;
  done: Promise<void>;
  /** Acceptance order, the tie-break between equal priorities. */
  readonly seq: number;
  /** Aborts the current transfer attempt only (a pause), while downloading. */
  pause: AbortController | null;
}

interface Waiter {
  readonly run: Run;
  readonly go: () => void;
}

/** One node's deployments. */
export class DeploymentAgent {
  private readonly runs = new Map<string, Run>();
  private readonly instances = new Map<string, Instance>();
  private readonly logger: Logger;
  private readonly transferring = new Set<Run>();
  private waiting: Waiter[] = [];
  private seq = 0;
  /** Transfers paused for a critical directive (counted for tests and operators). */
  readonly stats = { paused: 0 };

  constructor(private readonly options: DeploymentAgentOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Takes a directive: ignored (returns false) when this node is out of scope or already has it; otherwise
   * reports `pending` and starts. `settled(id)` resolves when the run stops moving.
   */
  accept(directive: DeploymentDirective): boolean {
    if (this.runs.has(directive.directive_id) || !matchesScope(directive.scope, this.options.profile())) return false;
    const run: Run = { directive, state: 'pending', progress: 0, lastProgressReport: -Infinity, instance: null, replaced: null, path: null, abort: new AbortController(), timer: undefined, done: Promise.resolve(), seq: this.seq++, pause: null };
    this.runs.set(directive.directive_id, run);
    this.emit(run, null);
    run.timer = this.options.clock.setTimeout(() => {
      if (run.state === 'pending' || run.state === 'downloading' || run.state === 'activating') {
        run.abort.abort();
        this.next();
        this.fail(run, `not active within ${directive.options.timeout_seconds} s`);
      }
    }, directive.options.timeout_seconds * 1000);
    run.done = this.execute(run).catch((e: unknown) => this.fail(run, e instanceof Error ? e.message : String(e)));
    return true;
  }

  /** Resolves once the directive's run has stopped moving (active, failed, awaiting activation, or rolled back). */
  async settled(directiveId: string): Promise<DeploymentState | undefined> {
    const run = this.runs.get(directiveId);
    if (!run) return undefined;
    await run.done;
    return run.state;
  }

  /** Activates a downloaded artifact of a directive with `auto_activate: false`. */
  async activate(directiveId: string): Promise<void> {
    const run = this.runs.get(directiveId);
    if (!run || run.state !== 'downloading' || run.path === null || run.progress !== 100) return;
    run.done = this.start(run).catch((e: unknown) => this.fail(run, e instanceof Error ? e.message : String(e)));
    await run.done;
  }

  /** Applies a control from the issuer: rollback deactivates, restores what was replaced, and reports `rolled_back` (a run that already failed keeps its failure). */
  async control(directiveId: string, control: DeploymentControl): Promise<void> {
    const run = this.runs.get(directiveId);
    if (!run || control.action !== 'rollback' || run.state === 'rolled_back' || run.state === 'failed') return; // a failed run has nothing to roll back
    run.abort.abort();
    this.next();
    await run.done.catch(() => undefined);
    if (run.instance) {
      await run.instance.adapter.deactivate(run.instance.instanceId);
      this.instances.delete(run.instance.instanceId);
    }
    if (run.replaced) {
      const r = run.replaced;
      r.instanceId = await r.adapter.activate(r.type, r.config, r.path);
      this.instances.set(r.instanceId, r);
    }
    this.clearTimer(run);
    run.state = 'rolled_back';
    this.emit(run, null, run.instance?.instanceId ?? null);
    this.logger.info('peat deploy: rolled back', { directive: directiveId, reason: control.reason });
  }

  /** Capability ids advertised by running instances. */
  advertisedCapabilities(): string[] {
    return [...new Set([...this.instances.values()].flatMap((i) => i.capabilities))].sort();
  }

  /**
   * The confidence factor of each advertised capability, from its instances' health: 1 while Running (or
   * Starting), 0.5 while Degraded (the specification halves it), absent when every instance behind it is Stopped
   * or Failed. A capability several instances provide takes the best factor.
   */
  async capabilityFactors(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const i of this.instances.values()) {
      const h = await i.adapter.health(i.instanceId);
      const factor = h.type === 'Running' || h.type === 'Starting' ? 1 : h.type === 'Degraded' ? 0.5 : 0;
      if (factor === 0) continue;
      for (const c of i.capabilities) out.set(c, Math.max(out.get(c) ?? 0, factor));
    }
    return out;
  }

  /** The running instances, by id. */
  runningInstances(): { instanceId: string; directiveId: string; name: string | null; path: string }[] {
    return [...this.instances.values()].map((i) => ({ instanceId: i.instanceId, directiveId: i.directiveId, name: i.name, path: i.path }));
  }

  /** Stops every timer and aborts downloads (instances keep running). */
  close(): void {
    for (const run of this.runs.values()) {
      this.clearTimer(run);
      run.abort.abort();
    }
  }

  private async execute(run: Run): Promise<void> {
    const { artifact } = run.directive;
    if (!KNOWN_ARTIFACT_TYPES.includes(artifact.artifact_type.type)) return this.fail(run, 'unsupported artifact type');
    const adapter = this.options.adapters.find((a) => a.canHandle(artifact.artifact_type as ArtifactType));
    if (!adapter) return this.fail(run, `no runtime adapter for ${artifact.artifact_type.type}`);
    const hex = expectedSha256(artifact);
    this.set(run, 'downloading', 0);
    run.path = await this.download(run, hex);
    if (run.state !== 'downloading') return;
    if (!run.directive.options.auto_activate) {
      run.progress = 100;
      return;
    }
    await this.start(run);
  }

  /** Fetches the artifact when this run's turn comes; a pause puts it back in line, to resume from its checkpoint. */
  private async download(run: Run, hex: string): Promise<string> {
    const { artifact } = run.directive;
    for (;;) {
      await this.turn(run);
      const pause = new AbortController();
      run.pause = pause;
      try {
        return await fetchBlob(this.options.source, this.options.local, artifact.blob_hash, hex, artifact.size_bytes, {
          signal: AbortSignal.any([run.abort.signal, pause.signal]),
          transfer: this.options.transfer ?? TRANSFER_PROFILES.tactical,
          now: () => this.options.clock.now(),
          onProgress: (received) => {
            if (run.state !== 'downloading') return;
            run.progress = Math.min(99, Math.floor((received / Math.max(1, artifact.size_bytes)) * 100));
            const now = this.options.clock.now();
            if (now - run.lastProgressReport >= 1000) {
              run.lastProgressReport = now;
              this.emit(run, null);
            }
          },
        });
      } catch (e) {
        if (!pause.signal.aborted || run.abort.signal.aborted) throw e;
        this.logger.info('peat deploy: transfer paused for a critical directive', { directive: run.directive.directive_id, progress: run.progress });
      } finally {
        run.pause = null;
        this.transferring.delete(run);
        this.next();
      }
    }
  }

  /** Waits for a transfer slot; a critical run pauses lower-priority transfers to get one. */
  private turn(run: Run): Promise<void> {
    return new Promise<void>((go) => {
      this.waiting.push({ run, go });
      if (run.directive.options.priority === 'critical') {
        for (const other of this.transferring) {
          if (other.directive.options.priority !== 'critical' && other.pause) {
            this.stats.paused++;
            other.pause.abort();
          }
        }
      }
      this.next();
    });
  }

  private next(): void {
    const max = this.options.maxConcurrentTransfers ?? 1;
    this.waiting = this.waiting.filter((w) => !w.run.abort.signal.aborted || (w.go(), false)); // aborted runs leave at once (their fetch cancels)
    this.waiting.sort((a, b) => PRIORITY_RANK[a.run.directive.options.priority] - PRIORITY_RANK[b.run.directive.options.priority] || a.run.seq - b.run.seq);
    while (this.transferring.size < max && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      this.transferring.add(w.run);
      w.go();
    }
  }

  private async start(run: Run): Promise<void> {
    const d = run.directive;
    const type = d.artifact.artifact_type as ArtifactType;
    const adapter = this.options.adapters.find((a) => a.canHandle(type))!;
    this.set(run, 'activating', 100);
    const instanceId = await adapter.activate(type, d.config, run.path!);
    if (run.state !== 'activating') {
      await adapter.deactivate(instanceId); // timed out or rolled back meanwhile
      return;
    }
    const instance: Instance = { directiveId: d.directive_id, name: d.artifact.name, adapter, type, config: d.config, path: run.path!, capabilities: d.capabilities, instanceId };
    if (d.options.replace_existing && d.artifact.name !== null) {
      const old = [...this.instances.values()].find((i) => i.name === d.artifact.name);
      if (old) {
        await old.adapter.deactivate(old.instanceId);
        this.instances.delete(old.instanceId);
        run.replaced = old;
      }
    }
    this.instances.set(instanceId, instance);
    run.instance = instance;
    this.clearTimer(run);
    run.state = 'active';
    this.emit(run, null, instanceId);
  }

  private set(run: Run, state: DeploymentState, progress: number): void {
    run.state = state;
    run.progress = progress;
    this.emit(run, null);
  }

  private fail(run: Run, message: string): void {
    if (run.state === 'failed' || run.state === 'rolled_back' || run.state === 'active') return;
    this.clearTimer(run);
    run.state = 'failed';
    this.emit(run, message);
  }

  private clearTimer(run: Run): void {
    if (run.timer) this.options.clock.clearTimeout(run.timer);
    run.timer = undefined;
  }

  private emit(run: Run, error: string | null, instanceId: string | null = run.instance?.instanceId ?? null): void {
    this.options.report({
      directive_id: run.directive.directive_id,
      node_id: this.options.nodeId,
      reported_at: new Date(this.options.clock.now()).toISOString(),
      state: run.state,
      progress_percent: run.progress,
      error_message: error,
      instance_id: instanceId,
    });
  }
}
