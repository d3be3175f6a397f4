// SPDX-License-Identifier: Apache-2.0
// `ecps hub`: the SW4RM router (50051), registry (50052) and scheduler with the co-hosted coordination services
// (50053), each with grpc.health.v1, wired together: the scheduler and negotiation send their CONTROL and
// NEGOTIATION envelopes through the router; the scheduler reads agent reports from its own router inbox.
import { EcpsError, silentLogger } from '@ecps/core';
import type { Logger } from '@ecps/core';
import { CommunicationClass, Sw4rmServer } from '@ecps/sw4rm';
import { Envelope, StreamItem } from '@ecps/sw4rm/proto';
import { startNegotiation } from '@ecps/sw4rm-negotiation';
import type { RunningNegotiation } from '@ecps/sw4rm-negotiation';
import { startRegistry } from '@ecps/sw4rm-registry';
import type { RunningRegistry } from '@ecps/sw4rm-registry';
import { routerConfigFromEnv, startRouter } from '@ecps/sw4rm-router';
import type { RunningRouter } from '@ecps/sw4rm-router';
import { controlEnvelope, parseReport, startScheduler } from '@ecps/sw4rm-scheduler';
import type { RunningScheduler } from '@ecps/sw4rm-scheduler';
import { parseInteger } from '../kit/options';

/** Options of {@link startHub}. Ports default to the SW4RM ones; 0 = ephemeral. */
export interface HubOptions {
  host?: string;
  routerPort?: number;
  registryPort?: number;
  schedulerPort?: number;
  /** Router store directory (default `SW4RM_ROUTER_DB` or `./sw4rm-router.sqlite3`). */
  dbPath?: string;
  /** Router drain grace (default `SW4RM_ROUTER_DRAIN_SECONDS` or 5 s). */
  drainGraceMs?: number;
  /** The scheduler's router inbox (agent id `scheduler`) for agent reports; default true. */
  schedulerInbox?: boolean;
  logger?: Logger;
  env?: Record<string, string | undefined>;
}

/** A running hub. */
export interface Hub {
  router: RunningRouter;
  registry: RunningRegistry;
  scheduler: RunningScheduler;
  negotiation: RunningNegotiation;
  /** The address the three servers are bound to. */
  host: string;
  ports: { router: number; registry: number; scheduler: number };
  /** Drains the router, stops every service. */
  stop(): Promise<void>;
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

/**
 * Starts the three SW4RM servers.
 * @throws EcpsError CONFIG_INVALID for a malformed port or timeout in `env`; IO_ERROR when a port or the store cannot be opened.
 */
export async function startHub(options: HubOptions = {}): Promise<Hub> {
  const env = options.env ?? process.env;
  const host = options.host ?? env['SW4RM_BIND_HOST'] ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger;
  const staleSeconds = fromEnv(env, 'SW4RM_REGISTRY_STALE_SECONDS', { min: 1 });
  const routerCfg = routerConfigFromEnv(env);
  const router = await startRouter({
    ...routerCfg,
    ...(options.dbPath ? { dbPath: options.dbPath } : {}),
    ...(options.drainGraceMs !== undefined ? { drainGraceMs: options.drainGraceMs } : {}),
    host,
    port: port(options.routerPort, env, 'ROUTER_PORT', 50051),
    logger,
  });
  const started: { stop(): Promise<void> }[] = [router];
  try {
    const registry = await startRegistry({
      host,
      port: port(options.registryPort, env, 'REGISTRY_PORT', 50052),
      logger,
      ...(staleSeconds !== undefined ? { staleAfterMs: staleSeconds * 1000 } : {}),
    });
    started.push(registry);
    const send = async (e: Envelope) => {
      const r = await router.router.sendMessage(Envelope.encode(e).finish());
      if (!r.accepted) logger.warn('hub envelope not routed', { type: e.messageType, reason: r.reason });
    };
    const shared = new Sw4rmServer();
    const scheduler = await startScheduler({
      server: shared,
      logger,
      sendControl: (cmd) => send(controlEnvelope('scheduler', cmd)),
      classOf: (agentId) => registry.registry.get(agentId)?.descriptor.communicationClass ?? CommunicationClass.STANDARD,
    });
    const negotiation = await startNegotiation({ server: shared, logger, emit: send });
    const schedulerPort = await shared.bind(host, port(options.schedulerPort, env, 'SCHEDULER_PORT', 50053));
    started.push({
      stop: async () => {
        shared.setServing(false);
        await scheduler.stop();
        await negotiation.stop();
        await shared.shutdown(1000);
      },
    });
    if (options.schedulerInbox ?? true) {
      await router.router.openStream('scheduler', {
        write: (item) => {
          const { msg, seq } = StreamItem.decode(item);
          const report = msg && parseReport(msg);
          if (report) scheduler.scheduler.report(report.agentId, report.taskId, report.status);
          void router.router.ackDelivery({ agentId: 'scheduler', seq, messageId: msg?.messageId ?? '', outcome: 0 });
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
      host,
      ports: { router: router.port, registry: registry.port, scheduler: schedulerPort },
      async stop() {
        for (const s of started.reverse()) await s.stop();
      },
    };
  } catch (err) {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    throw err;
  }
}
