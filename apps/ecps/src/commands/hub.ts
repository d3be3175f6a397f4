// SPDX-License-Identifier: Apache-2.0
// `ecps hub` (all 15 SW4RM services) and `ecps hitl` (the person's side of the HITL queue of a hub).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from '@ecps/core';
import { isEcpsError } from '@ecps/core';
import { HITL_ACTIONS, answerHitl, listPendingHitl } from '@ecps/sw4rm-hitl';
import { hubJwtVerification, startHub } from '../hub/start-hub';
import type { HubJwtOptions } from '../hub/start-hub';

const stderr: Logger = {
  debug: () => undefined,
  info: (m, f) => console.error(`INFO  ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  warn: (m, f) => console.error(`WARN  ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  error: (m, f) => console.error(`ERROR ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
};

interface HubFlags {
  host?: string;
  routerPort?: number;
  registryPort?: number;
  schedulerPort?: number;
  db?: string;
  dataDir?: string;
  schedulerInbox: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  insecure?: boolean;
  admin?: string[];
  tools?: string;
  repo?: string[];
  hitlDeadline?: number;
  hitlFallback?: string;
  hitlReviewer?: string[];
  jwtKey?: string;
  jwtKid?: string;
  jwtAlg?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerHub(program: Command): void {
  program
    .command('hub')
    .description('run all 15 SW4RM services: router (50051), registry (50052), scheduler and the co-hosted services (50053)')
    .option('--host <host>', 'bind address (default SW4RM_BIND_HOST or 127.0.0.1); other than loopback needs TLS or --insecure')
    .option('--router-port <n>', 'router port (default ROUTER_PORT or 50051)', Number)
    .option('--registry-port <n>', 'registry port (default REGISTRY_PORT or 50052)', Number)
    .option('--scheduler-port <n>', 'scheduler port (default SCHEDULER_PORT or 50053)', Number)
    .option('--data-dir <dir>', 'where all state lives (default SW4RM_DATA_DIR or .)')
    .option('--db <path>', 'router store (default SW4RM_ROUTER_DB or <data-dir>/sw4rm-router.sqlite3)')
    .option('--tls-cert <file>', 'server certificate (PEM): serve TLS')
    .option('--tls-key <file>', 'server private key (PEM)')
    .option('--tls-client-ca <file>', 'CA of client certificates: mutual TLS, the certificate CN names the agent')
    .option('--insecure', 'allow plaintext on a non-loopback host')
    .option('--jwt-key <file>', 'every call needs a JWT (authorization: Bearer) verified with this key: PEM public key, or the HS256 secret')
    .option('--jwt-kid <kid>', 'key id the tokens carry')
    .option('--jwt-alg <alg>', 'EdDSA (default), ES256, RS256 or HS256')
    .option('--jwt-issuer <iss>', 'issuer the tokens must name')
    .option('--jwt-audience <aud>', 'audience the tokens must name')
    .option('--admin <identity>', 'an identity allowed to act for any agent (repeatable)', collect)
    .option('--tools <file>', 'local tools manifest (JSON: [{descriptor, command, outputContentType?}])')
    .option('--repo <id=path>', 'a git repository agents bind worktrees of (repeatable)', collect)
    .option('--hitl-deadline <ms>', 'HITL decisions not taken in time fall back (see --hitl-fallback) or fail', Number)
    .option('--hitl-fallback <action>', `decision taken at the HITL deadline (${HITL_ACTIONS.join('|')})`)
    .option('--hitl-reviewer <agent>', 'an agent that gets HITL questions as envelopes and may answer them (repeatable)', collect)
    .option('--no-scheduler-inbox', 'do not subscribe the scheduler to the router (no agent reports)')
    .action(async (opts: HubFlags) => {
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
      const tls = opts.tlsCert ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey!), ...(opts.tlsClientCa ? { ca: readFileSync(opts.tlsClientCa) } : {}) } : undefined;
      const repositories = Object.fromEntries(
        (opts.repo ?? []).map((r) => {
          const eq = r.indexOf('=');
          if (eq <= 0) throw new Error(`--repo wants id=path, got ${r}`);
          return [r.slice(0, eq), r.slice(eq + 1)];
        }),
      );
      let hub;
      try {
        const jwt = opts.jwtKey
          ? hubJwtVerification({ keyFile: opts.jwtKey, kid: opts.jwtKid ?? '', issuer: opts.jwtIssuer ?? '', audience: opts.jwtAudience ?? '', ...(opts.jwtAlg ? { alg: opts.jwtAlg as NonNullable<HubJwtOptions['alg']> } : {}) })
          : undefined;
        hub = await startHub({
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.routerPort !== undefined ? { routerPort: opts.routerPort } : {}),
          ...(opts.registryPort !== undefined ? { registryPort: opts.registryPort } : {}),
          ...(opts.schedulerPort !== undefined ? { schedulerPort: opts.schedulerPort } : {}),
          ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
          ...(opts.db ? { dbPath: opts.db } : {}),
          ...(tls ? { tls } : {}),
          ...(opts.tlsClientCa || opts.admin || jwt ? { auth: { certificates: Boolean(opts.tlsClientCa), ...(jwt ? { jwt } : {}), ...(opts.admin ? { admins: opts.admin } : {}) } } : {}),
          ...(opts.insecure ? { insecure: true } : {}),
          ...(opts.tools ? { tools: opts.tools } : {}),
          repositories,
          hitl: {
            ...(opts.hitlDeadline ? { deadlineMs: opts.hitlDeadline } : {}),
            ...(opts.hitlFallback ? { fallback: { action: opts.hitlFallback as (typeof HITL_ACTIONS)[number] } } : {}),
            ...(opts.hitlReviewer ? { reviewers: opts.hitlReviewer } : {}),
          },
          schedulerInbox: opts.schedulerInbox,
          logger: stderr,
        });
      } catch (error) {
        if (!isEcpsError(error, 'CONFIG_INVALID')) throw error;
        console.error(`ecps hub: ${error.message}`);
        process.exitCode = 2; // a usage error (e.g. a network host without TLS): retrying the same command cannot help
        return;
      }
      const running = hub;
      console.log(JSON.stringify({ ready: true, ...running.ports, dataDir: running.dataDir }));
      let signals = 0;
      const shutdown = (signal: string) => {
        signals++;
        stderr.info('hub shutting down', { signal });
        const stopping = signals > 1 ? running.router.router.close() : running.stop();
        stopping.then(
          () => process.exit(0),
          () => process.exit(0),
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });

  const hitl = program.command('hitl').description("answer a hub's human-in-the-loop questions");
  const dirOf = (o: { dataDir?: string }) => join(o.dataDir ?? process.env['SW4RM_DATA_DIR'] ?? '.', 'hitl');
  hitl
    .command('list')
    .description('pending questions, oldest first')
    .option('--data-dir <dir>', "the hub's data directory (default SW4RM_DATA_DIR or .)")
    .option('--json', 'one JSON array')
    .action((o: { dataDir?: string; json?: boolean }) => {
      const pending = listPendingHitl(dirOf(o));
      if (o.json) return console.log(JSON.stringify(pending));
      if (!pending.length) return console.log('no pending questions');
      for (const p of pending) {
        console.log(`${p.id}  ${p.reason_type}  priority ${p.priority}  asked ${p.created_at}${p.deadline ? `  deadline ${p.deadline}` : ''}`);
        console.log(`    ${p.context ?? `(binary, base64) ${p.context_b64}`}`);
        if (p.proposed_actions.length) console.log(`    proposed: ${p.proposed_actions.join(', ')}`);
      }
    });
  hitl
    .command('answer <id> <action>')
    .description(`decide a pending question (${HITL_ACTIONS.join('|')})`)
    .option('--data-dir <dir>', "the hub's data directory (default SW4RM_DATA_DIR or .)")
    .option('--rationale <text>', 'why')
    .option('--payload <text>', 'decision payload (e.g. the modified request)')
    .action((id: string, action: string, o: { dataDir?: string; rationale?: string; payload?: string }) => {
      const d = answerHitl(dirOf(o), id, action, { ...(o.rationale ? { rationale: o.rationale } : {}), ...(o.payload ? { payload: new TextEncoder().encode(o.payload) } : {}) });
      console.log(JSON.stringify({ id: d.id, action: d.action, decided_at: d.decided_at }));
    });
}
