// SPDX-License-Identifier: Apache-2.0
// `ecps hub`: all 15 SW4RM services. The router on 50051, the registry on 50052, and on 50053 the scheduler with
// every co-hosted service (policy, negotiation, room, activity, handoff, workflow, worktree, tools, connector,
// reasoning, HITL, logging), each with grpc.health.v1. State lives under one data directory: the router's store,
// one shared store for registry/scheduler/negotiation room/handoff/workflow/worktree/connector state, the HITL
// queue and the event log. Services talk to agents through the router, each envelope only to its addressees.
import { isAbsolute, join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Logger } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger } from '@ecps/core';
import { CommunicationClass, MessageType, Sw4rmServer, buildEnvelope, createAuthenticator } from '@ecps/sw4rm';
import type { AuthOptions, Envelope, ServerTlsOptions } from '@ecps/sw4rm';
import { Envelope as EnvelopeCodec, HitlReasonType, StreamItem } from '@ecps/sw4rm/proto';
import { startCoordination } from '@ecps/sw4rm-coordination';
import type { RunningCoordination } from '@ecps/sw4rm-coordination';
import { hitlInvocationEnvelope, parseHitlDecision, startHitl } from '@ecps/sw4rm-hitl';
import type { FileHitlQueueOptions, RunningHitl } from '@ecps/sw4rm-hitl';
import { startLogging } from '@ecps/sw4rm-logging';
import { startNegotiation } from '@ecps/sw4rm-negotiation';
import type { RunningNegotiation } from '@ecps/sw4rm-negotiation';
import { HeuristicReasoning, startReasoning } from '@ecps/sw4rm-reasoning';
import { startRegistry } from '@ecps/sw4rm-registry';
import type { RunningRegistry } from '@ecps/sw4rm-registry';
import { routerConfigFromEnv, startRouter } from '@ecps/sw4rm-router';
import type { RunningRouter } from '@ecps/sw4rm-router';
import { controlEnvelope, parseReport, startScheduler } from '@ecps/sw4rm-scheduler';
import type { AgentReport, RunningScheduler } from '@ecps/sw4rm-scheduler';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { LocalTools, startTools } from '@ecps/sw4rm-tools';
import { JwtKeyRing } from '@ecps/trust';
import type { JwtAlgorithm, VerifyTokenOptions } from '@ecps/trust';
import type { LocalToolSpec, RunningTools } from '@ecps/sw4rm-tools';
import { startWorktreeService } from '@ecps/sw4rm-worktree';
import type { RunningWorktree } from '@ecps/sw4rm-worktree';
import { parseInteger } from '../kit/options';

/** Options of {@link startHub}. Ports default to the SW4RM ones; 0 = ephemeral. */
export interface HubOptions {
  host?: string;
  routerPort?: number;
  registryPort?: number;
  schedulerPort?: number;
  /** Where all state lives; default `SW4RM_DATA_DIR` or the current directory. */
  dataDir?: string;
  /** Router store directory (default `SW4RM_ROUTER_DB` or `<dataDir>/sw4rm-router.sqlite3`). */
  dbPath?: string;
  /** Router drain grace (default `SW4RM_ROUTER_DRAIN_SECONDS` or 5 s). */
  drainGraceMs?: number;
  /** The scheduler's router inbox (agent id `scheduler`) for agent reports; default true. */
  schedulerInbox?: boolean;
  /** TLS for every port (mutual TLS with `ca`). */
  tls?: ServerTlsOptions;
  /** Caller identity (client certificates and/or JWTs); the hub's own services are in-process and need none. */
  auth?: AuthOptions;
  /** Serve without TLS on a non-loopback host. Default false: such a hub refuses to start. */
  insecure?: boolean;
  /** Local tools: specs or a JSON manifest path. */
  tools?: readonly LocalToolSpec[] | string;
  /** Git repositories agents bind worktrees of (id → path); worktrees go under `<dataDir>/worktrees`. */
  repositories?: Readonly<Record<string, string>>;
  /**
   * HITL deadline and fallback (see @ecps/sw4rm-hitl), and reviewers: agents that get every question as a
   * HITL_INVOCATION envelope and may answer it with a decision envelope to the hub's inbox (agent `scheduler`).
   */
  hitl?: Pick<FileHitlQueueOptions, 'deadlineMs' | 'fallback' | 'pollIntervalMs'> & { reviewers?: readonly string[] };
  logger?: Logger;
  env?: Record<string, string | undefined>;
}

/** A running hub. */
export interface Hub {
  router: RunningRouter;
  registry: RunningRegistry;
  scheduler: RunningScheduler;
  negotiation: RunningNegotiation;
  coordination: RunningCoordination;
  worktree: RunningWorktree;
  tools: RunningTools;
  hitl: RunningHitl;
  /** The address the servers are bound to. */
  host: string;
  ports: { router: number; registry: number; scheduler: number };
  /** The data directory (HITL queue under `<dataDir>/hitl`). */
  dataDir: string;
  /** Drains the router, stops every service, closes the stores. */
  stop(): Promise<void>;
}

/** Where the hub finds the key that verifies agents' JWTs, and what the tokens must say. */
export interface HubJwtOptions {
  /** PEM public (or private) key for EdDSA / ES256 / RS256; the raw shared secret for HS256. */
  keyFile: string;
  /** The `kid` the tokens carry in their header. */
  kid: string;
  /** Default EdDSA. */
  alg?: JwtAlgorithm;
  issuer: string;
  audience: string;
}

const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['EdDSA', 'ES256', 'RS256', 'HS256'];

/**
 * JWT verification options for {@link HubOptions.auth} from a key file (`ecps hub --jwt-*`): every call must then
 * carry `authorization: Bearer <token>` signed by that key, for that issuer and audience.
 * @throws ValidationError CONFIG_INVALID for a missing issuer, audience or kid, an unknown algorithm or an unreadable key.
 */
export function hubJwtVerification(options: HubJwtOptions): VerifyTokenOptions {
  const alg = options.alg ?? 'EdDSA';
  if (!JWT_ALGORITHMS.includes(alg)) throw new ValidationError('CONFIG_INVALID', `unknown JWT algorithm ${alg} (${JWT_ALGORITHMS.join(', ')})`);
  if (!options.issuer || !options.audience || !options.kid) throw new ValidationError('CONFIG_INVALID', 'JWT verification needs the key id, the expected issuer and the expected audience');
  try {
    const raw = readFileSync(options.keyFile);
    const key = alg === 'HS256' ? new Uint8Array(raw) : createPublicKey(raw);
    return { ring: new JwtKeyRing({ kid: options.kid, alg, key }), algorithms: [alg], issuer: options.issuer, audience: options.audience };
  } catch (err) {
    throw new ValidationError('CONFIG_INVALID', `JWT key ${options.keyFile}: ${(err as Error).message}`, { cause: err });
  }
}

/** An integer setting from the environment, read like the command-line flags. @throws EcpsError CONFIG_INVALID */
function fromEnv(env: Record<string, string | undefined>, name: string, range: { min: number; max?: number }): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  try {
    return parseInteger(text, range);
  } catch (error) {
    throw new EcpsError('CONFIG_INVALID', `${name}=${text} is invalid. ${(error as Error).message}`);
  }
}

const port = (value: number | undefined, env: Record<string, string | undefined>, name: string, fallback: number): number =>
  value ?? fromEnv(env, name, { min: 0, max: 65_535 }) ?? fallback;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/i;

/** The agent id the hub's services use as producer of their envelopes. */
export const HUB_AGENT_ID = 'scheduler';

/**
 * Starts all 15 SW4RM services.
 * @throws ValidationError CONFIG_INVALID for a non-loopback host without TLS (unless `insecure`), EcpsError
 *   CONFIG_INVALID for a malformed port or timeout in `env`;
 *   EcpsError IO_ERROR when a port or a store cannot be opened.
 */
export async function startHub(options: HubOptions = {}): Promise<Hub> {
  const env = options.env ?? process.env;
  const host = options.host ?? env['SW4RM_BIND_HOST'] ?? '127.0.0.1';
  if (!LOOPBACK.test(host) && !options.tls && !options.insecure) {
    throw new ValidationError('CONFIG_INVALID', `refusing to serve SW4RM on ${host} without TLS: give a certificate, or --insecure to accept plaintext on the network`);
  }
  const logger = options.logger ?? silentLogger;
  const staleSeconds = fromEnv(env, 'SW4RM_REGISTRY_STALE_SECONDS', { min: 1 });
  const dataDir = options.dataDir ?? env['SW4RM_DATA_DIR'] ?? '.';
  mkdirSync(dataDir, { recursive: true });
  const inData = (p: string) => (isAbsolute(p) ? p : join(dataDir, p));
  const auth = createAuthenticator(options.auth);
  const serverOptions = { ...(options.tls ? { tls: options.tls } : {}), auth };
  const started: { stop(): Promise<void> }[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const s of [...started].reverse()) await s.stop().catch((err: unknown) => logger.error('hub stop failed', { error: String(err) }));
    })());
  try {
    const routerCfg = routerConfigFromEnv(env);
    const router = await startRouter({
      ...routerCfg,
      dbPath: options.dbPath ?? routerCfg.dbPath ?? inData('sw4rm-router.sqlite3'),
      ...(options.drainGraceMs !== undefined ? { drainGraceMs: options.drainGraceMs } : {}),
      host,
      port: port(options.routerPort, env, 'ROUTER_PORT', 50051),
      logger,
      ...serverOptions,
    });
    started.push(router);
    const state = await LevelKvStore.open(inData('sw4rm-state'));
    started.push({ stop: () => state.close() });

    /** Sends an envelope of the hub's services to `to` only; refused → throws (e.g. a scheduler RUN is retried). */
    const sendTo = async (to: readonly string[], e: Envelope) => {
      const r = await router.router.sendMessage(EnvelopeCodec.encode(e).finish(), { to });
      if (!r.accepted) throw new Error(r.reason);
    };
    const notification = (payload: unknown, correlationId?: string) =>
      buildEnvelope({ producerId: HUB_AGENT_ID, messageType: MessageType.NOTIFICATION, contentType: 'application/json', payload: JSON.stringify(payload), ...(correlationId ? { correlationId } : {}) });

    const registry = await startRegistry({
      host,
      port: port(options.registryPort, env, 'REGISTRY_PORT', 50052),
      logger,
      store: state,
      onDeregister: (agentId) => void router.router.forgetAgent(agentId).catch((err: unknown) => logger.warn('router could not forget agent', { agentId, error: String(err) })),
      ...(staleSeconds !== undefined ? { staleAfterMs: staleSeconds * 1000 } : {}),
      ...serverOptions,
    });
    started.push(registry);

    const shared = new Sw4rmServer(serverOptions);
    const late: { coordination?: RunningCoordination; askHuman?: (reason: HitlReasonType, context: unknown) => Promise<boolean> } = {}; // services started later
    const reasoning = new HeuristicReasoning();
    const scheduler = await startScheduler({
      server: shared,
      logger,
      store: state,
      // an agent runs as many tasks at once as it takes delegations; overlap is ReasoningProxy's call (the one this
      // hub serves, asked in-process), a conflict goes to a person (HITL CONFLICT)
      maxParallel: (agentId) => registry.registry.get(agentId)?.descriptor.maxConcurrentDelegations || 1,
      reasoning: {
        checkParallelism: async ({ scopeA, scopeB }) => {
          const v = await reasoning.checkParallelism(scopeA, scopeB);
          return { confidenceScore: v.confidence, notes: v.notes };
        },
      },
      resolveConflict: async (c) => (late.askHuman ? late.askHuman(HitlReasonType.CONFLICT, { agent_id: c.agentId, task_id: c.taskId, scope: c.scope, running_task_id: c.runningTaskId, running_scope: c.runningScope, confidence: c.confidence, notes: c.notes }) : false),
      sendControl: (cmd) => sendTo([cmd.agentId], controlEnvelope(HUB_AGENT_ID, cmd)),
      classOf: (agentId) => registry.registry.get(agentId)?.descriptor.communicationClass ?? CommunicationClass.STANDARD,
      onFinished: (task) => {
        const m = /^wf:(.+):([^:]+)$/.exec(task.taskId);
        const wf = late.coordination?.workflow;
        if (!m || !wf) return;
        const done = task.state === 'COMPLETED' ? wf.completeNode(m[1]!, m[2]!, task.output ?? '{}') : wf.failNode(m[1]!, m[2]!, task.failReason ?? 'failed');
        done.catch((err: unknown) => logger.error('workflow state not saved', { taskId: task.taskId, error: String(err) }));
      },
    });
    started.push(scheduler);
    const negotiation = await startNegotiation({ server: shared, logger, store: state, emit: (e, participants) => sendTo(participants, e), room: { store: state } });
    started.push(negotiation);
    const { reviewers = [], ...hitlOptions } = options.hitl ?? {};
    const hitl = await startHitl({
      server: shared,
      dir: inData('hitl'),
      logger,
      ...hitlOptions,
      ...(reviewers.length ? { onInvocation: (p) => sendTo(reviewers, hitlInvocationEnvelope(HUB_AGENT_ID, p)) } : {}),
    });
    started.push(hitl);
    const askHuman = async (reasonType: HitlReasonType, context: unknown) =>
      (await hitl.queue.decide({ reasonType, context: new TextEncoder().encode(JSON.stringify(context)), proposedActions: ['approve', 'deny'], priority: 0 })).action === 'approve';
    late.askHuman = askHuman;
    const coordination = await startCoordination({
      server: shared,
      handoff: {
        store: state,
        logger,
        agentsWithCapabilities: (caps) => registry.registry.list().filter((e) => !e.stale && caps.every((c) => e.descriptor.capabilities.includes(c))).map((e) => e.descriptor.agentId),
        notify: (agentId, event) => sendTo([agentId], notification({ ...event, kind: `handoff.${event.kind}` }, event.requestId)),
      },
      workflow: {
        store: state,
        logger,
        dispatcher: {
          async dispatch(workflowId, node, input) {
            const taskId = `wf:${workflowId}:${node.nodeId}`;
            const budget = Number(node.metadata.get('token_budget') ?? 0); // [ours] a node's token budget
            const r = await scheduler.scheduler.submitTask(
              { agentId: node.agentId, taskId, priority: 0, params: new TextEncoder().encode(JSON.stringify(input)), contentType: 'application/json', scope: node.metadata.get('scope') ?? '' },
              budget > 0 ? { tokenBudget: budget } : {},
            );
            if (r.accepted && r.reason.startsWith('duplicate:')) {
              const t = scheduler.scheduler.task(node.agentId, taskId); // finished while we were down
              if (t?.state === 'COMPLETED') await coordination.workflow.completeNode(workflowId, node.nodeId, t.output ?? '{}');
              else if (t?.state === 'FAILED') await coordination.workflow.failNode(workflowId, node.nodeId, t.failReason ?? 'failed');
            } else if (!r.accepted && r.reason !== 'already_in_progress') throw new Error(r.reason);
          },
        },
      },
    });
    late.coordination = coordination;
    started.push(coordination);
    const worktree = await startWorktreeService({
      server: shared,
      logger,
      store: state,
      git: { repositories: options.repositories ?? {}, root: inData('worktrees') },
      askHuman: (b) => askHuman(HitlReasonType.WORKTREE_OVERRIDE, { agent_id: b.agentId, repo_id: b.repoId, from: b.worktreeId, to: b.pendingTarget }),
    });
    started.push(worktree);
    const tools = await startTools({
      server: shared,
      logger,
      store: state,
      tools: typeof options.tools === 'string' ? LocalTools.fromFile(options.tools) : (options.tools ?? []),
      workdirOf: (agentId) => worktree.worktrees.workdirOf(agentId),
      approvePrivileged: (call, agentId) => askHuman(HitlReasonType.TOOL_PRIVILEGE_ESCALATION, { agent_id: agentId, tool_name: call.toolName, call_id: call.callId }),
    });
    started.push(tools);
    started.push(await startReasoning({ server: shared, backend: reasoning }));
    started.push(await startLogging({ server: shared, sink: inData('sw4rm-events.jsonl') }));

    const schedulerPort = await shared.bind(host, port(options.schedulerPort, env, 'SCHEDULER_PORT', 50053));
    started.push({
      stop: async () => {
        shared.setServing(false);
        await shared.shutdown(1000);
      },
    });
    /** A reviewer's decision envelope answers its question; anything else about HITL is logged and dropped. */
    const answerFromEnvelope = (msg: Envelope) => {
      try {
        const d = parseHitlDecision(msg);
        if (d) hitl.queue.answer(d.invocation_id, d.decision, { rationale: d.rationale, payload: new Uint8Array(Buffer.from(d.patch_b64, 'base64')), by: msg.producerId });
      } catch (err) {
        logger.warn('HITL decision envelope not applied', { from: msg.producerId, messageId: msg.messageId, error: String(err) });
      }
    };
    /** An agent report: token usage counted against its task and/or handoff (over budget → cancelled), then the task's end. */
    const applyReport = (report: AgentReport) => {
      const { agentId, taskId, tokensUsed, handoffId } = report;
      const refused = (err: unknown) => logger.warn('token usage refused', { agentId, taskId, handoffId, error: String(err) });
      if (tokensUsed !== undefined && taskId && scheduler.scheduler.task(agentId, taskId)) {
        try {
          scheduler.scheduler.reportUsage(agentId, taskId, tokensUsed);
        } catch (err) {
          refused(err);
        }
      }
      if (tokensUsed !== undefined && handoffId) coordination.handoff.reportUsage(handoffId, tokensUsed, agentId, auth).catch(refused);
      if (report.status !== 'RUNNING') scheduler.scheduler.report(agentId, taskId, report.status, report.logs, report.output);
    };
    if (options.schedulerInbox ?? true) {
      await router.router.openStream(HUB_AGENT_ID, {
        write: (item) => {
          const { msg, seq } = StreamItem.decode(item);
          const report = msg && parseReport(msg);
          if (report) applyReport(report);
          if (msg && reviewers.includes(msg.producerId)) answerFromEnvelope(msg);
          router.router
            .ackDelivery({ agentId: HUB_AGENT_ID, seq, messageId: msg?.messageId ?? '', outcome: 0 })
            .catch((err: unknown) => logger.warn('scheduler inbox could not ack a delivery (it will come again)', { seq: String(seq), error: String(err) }));
          return true;
        },
        once: () => undefined,
        fail: () => undefined,
      });
    }
    return {
      router,
      registry,
      scheduler,
      negotiation,
      coordination,
      worktree,
      tools,
      hitl,
      dataDir,
      host,
      ports: { router: router.port, registry: registry.port, scheduler: schedulerPort },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
