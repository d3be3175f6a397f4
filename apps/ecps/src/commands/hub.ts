// SPDX-License-Identifier: Apache-2.0
// `ecps hub`: all 15 SW4RM services until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { isEcpsError } from '@ecps/core';
import type { Logger } from '@ecps/core';
import type { HitlAction } from '@ecps/sw4rm-hitl';
import type { HubOptions } from '../hub/start-hub';
import { CliError, describeError, integer, jsonOption, port, stderrLogger, untilAborted, usageError } from '../kit/index';
import type { EcpsCommand } from '../kit/index';
import { HITL_ACTION_CHOICES } from './hitl';

interface HubFlags {
  host?: string;
  routerPort?: number;
  registryPort?: number;
  schedulerPort?: number;
  dataDir?: string;
  db?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  insecure?: boolean;
  admin?: string[];
  tools?: string;
  repo?: string[];
  hitlDeadline?: number;
  hitlFallback?: HitlAction;
  hitlReviewer?: string[];
  jwtKey?: string;
  jwtKid?: string;
  jwtAlg?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  schedulerInbox: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A file named by a flag; one that cannot be read is a usage error. */
function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw usageError(`${flag} ${path}: ${describeError(error)}`);
  }
}

/** The command line as {@link HubOptions}. @throws CliError (usage) for flags that do not fit together */
function hubOptions(opts: HubFlags, logger: Logger): HubOptions {
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw usageError('--tls-cert and --tls-key go together');
  if (opts.tlsClientCa && !opts.tlsCert) throw usageError('--tls-client-ca needs --tls-cert and --tls-key');
  const repositories: Record<string, string> = {};
  for (const r of opts.repo ?? []) {
    const eq = r.indexOf('=');
    if (eq <= 0 || eq === r.length - 1) throw usageError(`--repo wants id=path, got ${r}`);
    repositories[r.slice(0, eq)] = r.slice(eq + 1);
  }
  const options: HubOptions = { schedulerInbox: opts.schedulerInbox, logger, repositories };
  if (opts.host !== undefined) options.host = opts.host;
  if (opts.routerPort !== undefined) options.routerPort = opts.routerPort;
  if (opts.registryPort !== undefined) options.registryPort = opts.registryPort;
  if (opts.schedulerPort !== undefined) options.schedulerPort = opts.schedulerPort;
  if (opts.dataDir !== undefined) options.dataDir = opts.dataDir;
  if (opts.db !== undefined) options.dbPath = opts.db;
  if (opts.tlsCert && opts.tlsKey) {
    options.tls = {
      cert: readFlagFile('--tls-cert', opts.tlsCert),
      key: readFlagFile('--tls-key', opts.tlsKey),
      ...(opts.tlsClientCa ? { ca: readFlagFile('--tls-client-ca', opts.tlsClientCa) } : {}),
    };
  }
  if (opts.tlsClientCa || opts.admin) options.auth = { certificates: Boolean(opts.tlsClientCa), ...(opts.admin ? { admins: opts.admin } : {}) };
  if (opts.insecure) options.insecure = true;
  if (opts.tools !== undefined) options.tools = opts.tools;
  options.hitl = {
    ...(opts.hitlDeadline !== undefined ? { deadlineMs: opts.hitlDeadline } : {}),
    ...(opts.hitlFallback ? { fallback: { action: opts.hitlFallback } } : {}),
    ...(opts.hitlReviewer ? { reviewers: opts.hitlReviewer } : {}),
  };
  return options;
}

const hub: EcpsCommand = (program, ctx) => {
  program
    .command('hub')
    .description('run all 15 SW4RM services until Ctrl-C: router (50051), registry (50052), scheduler and the co-hosted services (50053); prints their addresses')
    .option('--host <host>', 'address to bind (default: $SW4RM_BIND_HOST, else 127.0.0.1); anything but loopback needs TLS or --insecure')
    .option('--router-port <port>', 'router port (default: $ROUTER_PORT, else 50051; 0 picks a free one)', port)
    .option('--registry-port <port>', 'registry port (default: $REGISTRY_PORT, else 50052; 0 picks a free one)', port)
    .option('--scheduler-port <port>', 'scheduler and co-hosted services port (default: $SCHEDULER_PORT, else 50053; 0 picks a free one)', port)
    .option('--data-dir <dir>', 'where all state lives, created if missing (default: $SW4RM_DATA_DIR, else .)')
    .option('--db <path>', 'router store (default: $SW4RM_ROUTER_DB, else <data-dir>/sw4rm-router.sqlite3)')
    .option('--tls-cert <file>', 'server certificate (PEM): serve TLS')
    .option('--tls-key <file>', 'server private key (PEM), with --tls-cert')
    .option('--tls-client-ca <file>', 'CA of client certificates: mutual TLS, the certificate CN names the agent')
    .option('--insecure', 'allow plaintext on a non-loopback host')
    .option('--admin <identity>', 'an identity allowed to act for any agent (repeatable)', collect)
    .option('--tools <file>', 'local tools manifest (JSON: [{descriptor, command, outputContentType?}])')
    .option('--repo <id=path>', 'a git repository agents bind worktrees of (repeatable)', collect)
    .option('--hitl-deadline <ms>', 'milliseconds a person has to answer a HITL question before the fallback (or a failure)', integer({ min: 1 }))
    .addOption(new Option('--hitl-fallback <action>', 'decision taken at the HITL deadline').choices(HITL_ACTION_CHOICES))
    .option('--hitl-reviewer <agent>', 'an agent that gets HITL questions as envelopes and may answer them (repeatable)', collect)
    .option('--jwt-key <file>', 'key that verifies agents\' JWTs (PEM public key; the raw secret for HS256): every call then needs a bearer token')
    .option('--jwt-kid <kid>', 'the key id the tokens carry, with --jwt-key')
    .addOption(new Option('--jwt-alg <alg>', 'JWT algorithm, with --jwt-key (default EdDSA)').choices(['EdDSA', 'ES256', 'RS256', 'HS256']))
    .option('--jwt-issuer <iss>', 'the issuer tokens must name, with --jwt-key')
    .option('--jwt-audience <aud>', 'the audience tokens must name, with --jwt-key')
    .option('--no-scheduler-inbox', 'do not subscribe the scheduler to the router (it then gets no agent reports)')
    .addOption(jsonOption())
    .action(async (opts: HubFlags) => {
      const logger = stderrLogger(ctx.out);
      const options = hubOptions(opts, logger);
      const { hubJwtVerification, startHub } = await import('../hub/start-hub'); // loaded on use: `ecps --help` stays fast
      if (opts.jwtKey) {
        const jwt = hubJwtVerification({ keyFile: opts.jwtKey, kid: opts.jwtKid ?? '', issuer: opts.jwtIssuer ?? '', audience: opts.jwtAudience ?? '', ...(opts.jwtAlg ? { alg: opts.jwtAlg as 'EdDSA' } : {}) });
        options.auth = { certificates: Boolean(opts.tlsClientCa), ...options.auth, jwt };
      }
      const running = await startHub(options).catch((cause: unknown) => {
        // a bad $ROUTER_PORT, a network host without TLS: a usage error (exit 2), retrying the same command cannot help
        if (isEcpsError(cause, 'CONFIG_INVALID')) throw cause;
        throw new CliError('UNAVAILABLE', describeError(cause), { cause, hint: 'pick other ports with --router-port, --registry-port and --scheduler-port (0 picks free ones)' });
      });
      const { host, ports, dataDir } = running;
      if (opts.json) ctx.out.json({ ready: true, host, ...ports, dataDir });
      else for (const [name, p] of Object.entries(ports)) ctx.out.line(`${name.padEnd(9)} ${host}:${p}`);
      ctx.out.message(`ecps hub: serving, state in ${dataDir} (Ctrl-C drains the router and stops; a second Ctrl-C skips the drain)`);
      await untilAborted(ctx.interrupted);
      logger.info('hub shutting down');
      // a second signal ends the drain at once
      const skipDrain = () => void running.router.router.close().catch(() => undefined);
      ctx.forced.addEventListener('abort', skipDrain, { once: true });
      await running.stop();
      ctx.out.message('ecps hub: stopped');
    });
};

export default hub;
