// SPDX-License-Identifier: Apache-2.0
// WorkflowService (spec §3.13): DAG definitions validated in O(V+E), execution state (a node runs once every
// dependency is COMPLETED; a FAILED one makes its dependents SKIPPED), input/output mappings over the workflow's
// JSON data, durable definitions and states (protobuf bytes, map order kept) and resumption after a restart.
import type { Clock, Logger } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import { timestampFromMs, validateWorkflowDag } from '@ecps/sw4rm';
import type { KvStore } from '@ecps/sw4rm';
import { NodeStatus, TriggerType, WorkflowDefinition, WorkflowState } from '@ecps/sw4rm/proto';
import type {
  CreateWorkflowRequest,
  CreateWorkflowResponse,
  GetWorkflowStateRequest,
  GetWorkflowStateResponse,
  ResumeWorkflowRequest,
  ResumeWorkflowResponse,
  StartWorkflowRequest,
  StartWorkflowResponse,
  NodeState,
  WorkflowNode,
} from '@ecps/sw4rm/proto';

/** Runs a node on its agent (e.g. as a scheduler task); throwing fails the node. Must tolerate a repeat after a restart. */
export interface NodeDispatcher {
  dispatch(workflowId: string, node: WorkflowNode, input: Record<string, unknown>): Promise<void>;
}

/** Options of {@link WorkflowEngine}. */
export interface WorkflowEngineOptions {
  /** Runs DEPENDENCY/SCHEDULE nodes that name an agent; without it every node waits for ResumeWorkflow. */
  dispatcher?: NodeDispatcher;
  /** Durable store (keys `workflow/def/<id>`, `workflow/state/<id>`); memory only when absent. */
  store?: KvStore;
  clock?: Clock;
  logger?: Logger;
}

const DONE = new Set([NodeStatus.COMPLETED, NodeStatus.FAILED, NodeStatus.SKIPPED]);
const key = { def: (id: string) => `workflow/def/${id}`, state: (id: string) => `workflow/state/${id}` };

function jsonObject(text: string): Record<string, unknown> | undefined {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Workflow definitions, their execution states and the WorkflowService RPCs. */
export class WorkflowEngine {
  private readonly definitions = new Map<string, WorkflowDefinition>();
  private readonly states = new Map<string, WorkflowState>();
  /** One state change at a time per workflow (each reads the saved state and writes the next one). */
  private readonly locks = new Map<string, Promise<void>>();
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: WorkflowEngineOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * An engine with its persisted workflows restored; nodes that were RUNNING are dispatched again (dispatchers
   * de-duplicate, e.g. the scheduler by task id). @throws EcpsError IO_ERROR from the store.
   */
  static async open(options: WorkflowEngineOptions = {}): Promise<WorkflowEngine> {
    const engine = new WorkflowEngine(options);
    if (options.store) {
      for (const [k, v] of await options.store.load('workflow/def/')) engine.definitions.set(k.slice('workflow/def/'.length), WorkflowDefinition.decode(v));
      for (const [k, v] of await options.store.load('workflow/state/')) engine.states.set(k.slice('workflow/state/'.length), WorkflowState.decode(v));
      for (const [id, state] of engine.states) {
        const def = engine.definitions.get(id);
        for (const ns of state.nodeStates.values()) if (def && ns.status === NodeStatus.RUNNING) engine.run(id, def.nodes.get(ns.nodeId)!, state);
      }
    }
    return engine;
  }

  async createWorkflow(req: CreateWorkflowRequest): Promise<CreateWorkflowResponse> {
    const def = req.definition;
    if (!def?.workflowId) return { workflowId: '', success: false, error: 'validation_error: definition.workflow_id is required' };
    const problem = validateWorkflowDag(def);
    if (problem) return { workflowId: def.workflowId, success: false, error: problem };
    if (this.definitions.has(def.workflowId)) return { workflowId: def.workflowId, success: false, error: `workflow_exists: ${def.workflowId}` };
    const stored = { ...def, createdAt: def.createdAt ?? timestampFromMs(this.clock.now()) };
    await this.options.store?.commit([{ type: 'put', key: key.def(def.workflowId), value: WorkflowDefinition.encode(stored).finish() }]);
    this.definitions.set(def.workflowId, stored);
    return { workflowId: def.workflowId, success: true, error: '' };
  }

  async startWorkflow(req: StartWorkflowRequest): Promise<StartWorkflowResponse> {
    const fail = (error: string) => ({ workflowId: req.workflowId, state: undefined, success: false, error });
    const def = this.definitions.get(req.workflowId);
    if (!def) return fail('workflow_not_found');
    if (this.states.has(req.workflowId)) return fail(`workflow_already_started: ${req.workflowId}`);
    if (!jsonObject(req.workflowData)) return fail('validation_error: workflow_data must be a JSON object');
    const now = timestampFromMs(this.clock.now());
    const state: WorkflowState = { workflowId: req.workflowId, nodeStates: new Map(), workflowData: req.workflowData || '{}', startedAt: now, completedAt: undefined, metadata: new Map(req.metadata) };
    for (const [id, node] of def.nodes) {
      state.nodeStates.set(id, { nodeId: id, status: node.dependencies.length ? NodeStatus.PENDING : NodeStatus.READY, startedAt: undefined, completedAt: undefined, output: '', error: '' });
    }
    const toRun = this.advance(def, state);
    await this.save(state);
    for (const node of toRun) this.run(req.workflowId, node, state);
    return { workflowId: req.workflowId, state, success: true, error: '' };
  }

  async getWorkflowState(req: GetWorkflowStateRequest): Promise<GetWorkflowStateResponse> {
    const state = this.states.get(req.workflowId);
    return state ? { state, success: true, error: '' } : { state: undefined, success: false, error: 'workflow_not_found' };
  }

  /** ResumeWorkflow: `workflow_data` is the output of `node_id` (a READY or RUNNING node); it completes and advances. */
  async resumeWorkflow(req: ResumeWorkflowRequest): Promise<ResumeWorkflowResponse> {
    const fail = (error: string) => ({ workflowId: req.workflowId, state: this.states.get(req.workflowId), success: false, error });
    const state = this.states.get(req.workflowId);
    if (!state) return fail('workflow_not_found');
    const ns = state.nodeStates.get(req.nodeId);
    if (!ns) return fail(`node_not_found: ${req.nodeId}`);
    if (ns.status !== NodeStatus.READY && ns.status !== NodeStatus.RUNNING) return fail(`node_not_resumable: ${req.nodeId} is ${NodeStatus[ns.status]}`);
    if (!jsonObject(req.workflowData)) return fail('validation_error: workflow_data must be a JSON object');
    for (const [k, v] of req.metadata) state.metadata.set(k, v);
    await this.completeNode(req.workflowId, req.nodeId, req.workflowData || '{}');
    return { workflowId: req.workflowId, state: this.states.get(req.workflowId), success: true, error: '' };
  }

  /**
   * Records a node's output (JSON object text), applies its output mapping, completes it and starts the nodes it
   * unblocks. Ignored for unknown or finished nodes. @throws EcpsError IO_ERROR when the state cannot be saved.
   */
  async completeNode(workflowId: string, nodeId: string, output: string): Promise<void> {
    await this.finishNode(workflowId, nodeId, (state, def, ns) => {
      const node = def.nodes.get(nodeId)!;
      const out = jsonObject(output) ?? {};
      const data = jsonObject(state.workflowData) ?? {};
      for (const [outKey, dataKey] of node.outputMapping) if (outKey in out) data[dataKey] = out[outKey];
      state.workflowData = JSON.stringify(data);
      ns.status = NodeStatus.COMPLETED;
      ns.output = output;
    });
  }

  /** Fails a node; everything that depends on it (transitively) is SKIPPED. */
  async failNode(workflowId: string, nodeId: string, error: string): Promise<void> {
    await this.finishNode(workflowId, nodeId, (_state, _def, ns) => {
      ns.status = NodeStatus.FAILED;
      ns.error = error;
    });
  }

  private finishNode(workflowId: string, nodeId: string, apply: (state: WorkflowState, def: WorkflowDefinition, ns: NodeState) => void): Promise<void> {
    const previous = this.locks.get(workflowId) ?? Promise.resolve();
    const next = previous.then(() => this.finishNodeNow(workflowId, nodeId, apply));
    const settled = next.catch(() => undefined);
    this.locks.set(workflowId, settled);
    void settled.then(() => {
      if (this.locks.get(workflowId) === settled) this.locks.delete(workflowId);
    });
    return next;
  }

  private async finishNodeNow(workflowId: string, nodeId: string, apply: (state: WorkflowState, def: WorkflowDefinition, ns: NodeState) => void): Promise<void> {
    const current = this.states.get(workflowId);
    const def = this.definitions.get(workflowId);
    const currentNode = current?.nodeStates.get(nodeId);
    if (!current || !def || !currentNode || DONE.has(currentNode.status)) return;
    const state = WorkflowState.fromPartial(current); // applied to a copy: memory changes only once saved
    const ns = state.nodeStates.get(nodeId)!;
    apply(state, def, ns);
    ns.completedAt = timestampFromMs(this.clock.now());
    const toRun = this.advance(def, state);
    await this.save(state);
    this.logger.info('workflow node finished', { workflowId, nodeId, status: NodeStatus[ns.status] });
    for (const node of toRun) this.run(workflowId, node, state);
  }

  /** Moves PENDING nodes on (READY, or SKIPPED after a failure) and marks the nodes to dispatch RUNNING. */
  private advance(def: WorkflowDefinition, state: WorkflowState): WorkflowNode[] {
    const toRun: WorkflowNode[] = [];
    for (let changed = true; changed; ) {
      changed = false;
      for (const [id, node] of def.nodes) {
        const ns = state.nodeStates.get(id)!;
        if (ns.status !== NodeStatus.PENDING) continue;
        const deps = node.dependencies.map((d) => state.nodeStates.get(d)!.status);
        if (deps.some((s) => s === NodeStatus.FAILED || s === NodeStatus.SKIPPED)) {
          ns.status = NodeStatus.SKIPPED;
          changed = true;
        } else if (deps.every((s) => s === NodeStatus.COMPLETED)) {
          ns.status = NodeStatus.READY;
          changed = true;
        }
      }
    }
    const now = timestampFromMs(this.clock.now());
    for (const [id, node] of def.nodes) {
      const ns = state.nodeStates.get(id)!;
      const automatic = node.triggerType !== TriggerType.MANUAL && node.triggerType !== TriggerType.EVENT;
      if (ns.status === NodeStatus.READY && automatic && node.agentId && this.options.dispatcher) {
        ns.status = NodeStatus.RUNNING;
        ns.startedAt = now;
        toRun.push(node);
      }
    }
    if (!state.completedAt && [...state.nodeStates.values()].every((n) => DONE.has(n.status))) state.completedAt = now;
    return toRun;
  }

  /** Dispatches a RUNNING node with its mapped input; a dispatch error fails it. */
  private run(workflowId: string, node: WorkflowNode, state: WorkflowState): void {
    const data = jsonObject(state.workflowData) ?? {};
    const input: Record<string, unknown> = node.inputMapping.size ? {} : { ...data };
    for (const [inKey, dataKey] of node.inputMapping) input[inKey] = data[dataKey];
    this.options.dispatcher!.dispatch(workflowId, node, input).catch((err: unknown) => {
      this.logger.warn('workflow node dispatch failed', { workflowId, nodeId: node.nodeId, error: String(err) });
      return this.failNode(workflowId, node.nodeId, `dispatch_failed: ${err instanceof Error ? err.message : String(err)}`).catch((e: unknown) =>
        this.logger.error('workflow state not saved', { workflowId, error: String(e) }),
      );
    });
  }

  private async save(state: WorkflowState): Promise<void> {
    await this.options.store?.commit([{ type: 'put', key: key.state(state.workflowId), value: WorkflowState.encode(state).finish() }]);
    this.states.set(state.workflowId, state);
  }
}
