// SPDX-License-Identifier: Apache-2.0
// `ecps codex bots …`: the Codex registry and supervisor from the command line, on the JSON file by default and on
// PostgreSQL with --database-url; `ecps codex serve` runs the management API and dashboard of @ecps/codex-api.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from '@ecps/core';
import {
  BOT_ROLES,
  BOT_STATUSES,
  CodexError,
  EXIT_CODES,
  INCIDENT_KINDS,
  isCodexError,
  newBot,
  openRegistry,
  type Bot,
  type BotRole,
  type BotStatus,
  type CodexEvent,
  type CorruptPolicy,
  type IncidentKind,
  type Registry,
} from '@ecps/codex-registry';
import { logFile, readLogTail, Supervisor, supervisorConfigFromEnv } from '@ecps/codex-supervisor';
import { hashPassword, isApiError, startCodexServer } from '@ecps/codex-api';

interface RegistryFlags {
  registry?: string;
  databaseUrl?: string;
}

const stderrLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (m, f) => console.error(`WARN  ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
  error: (m, f) => console.error(`ERROR ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
};

/** The registry named by the flags, else by REGISTRY_BACKEND / DATABASE_URL / REGISTRY_FILE, else ./codex32_registry.json. */
async function open(flags: RegistryFlags, env = process.env): Promise<Registry> {
  const databaseUrl = flags.databaseUrl ?? (env['REGISTRY_BACKEND'] === 'postgres' ? env['DATABASE_URL'] : undefined);
  if (databaseUrl) return openRegistry({ backend: 'postgres', databaseUrl, logger: stderrLogger });
  return openRegistry({
    backend: 'json',
    file: resolve(flags.registry ?? env['REGISTRY_FILE'] ?? 'codex32_registry.json'),
    ...(env['INCIDENT_LOG'] ? { incidentLog: resolve(env['INCIDENT_LOG']) } : {}),
    ...(env['REGISTRY_CORRUPT_POLICY'] ? { corruptPolicy: env['REGISTRY_CORRUPT_POLICY'] as CorruptPolicy } : {}),
    logger: stderrLogger,
  });
}

async function supervisorFor(registry: Registry): Promise<Supervisor> {
  return Supervisor.create({ store: registry.bots, incidents: registry.incidents, config: supervisorConfigFromEnv(process.env, process.cwd()), logger: stderrLogger });
}

/** Runs `work` on the open registry; a Codex error becomes its message on stderr and its exit code (75, 78 or 1). */
function withRegistry<A extends unknown[]>(command: Command, work: (registry: Registry, ...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let registry: Registry | undefined;
    try {
      registry = await open(command.optsWithGlobals<RegistryFlags>());
      await work(registry, ...args);
    } catch (error) {
      if (!isCodexError(error)) throw error;
      console.error(error.message);
      process.exitCode = error.reason === 'registry_locked' || error.reason === 'registry_corrupt' ? EXIT_CODES[error.reason] : 1;
    } finally {
      await registry?.close();
    }
  };
}

function table(bots: Bot[]): string {
  const rows = [['ID', 'NAME', 'ROLE', 'STATUS', 'PID', 'FAILURES'], ...bots.map((b) => [b.id, b.name, b.role, b.status, String(b.process_id ?? '-'), String(b.failure_count)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function describeEvent(event: CodexEvent): string | null {
  if (event.type === 'bot.status') return `${event.data.bot_id}: ${event.data.from} -> ${event.data.to}${event.data.reason ? ` (${event.data.reason})` : ''}`;
  if (event.type === 'incident') return `${event.data.incident.bot_id ?? 'system'}: incident ${event.data.incident.kind}: ${event.data.incident.message}`;
  return null;
}

const choice = <T extends string>(values: readonly T[], what: string) => (value: string): T => {
  if (!(values as readonly string[]).includes(value)) throw new Error(`${what} must be one of ${values.join(', ')}`);
  return value as T;
};

const positiveInteger = (what: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer`);
  return n;
};

/** Registers `ecps codex bots list|add|start|stop|logs|incidents`. */
export function registerCodex(program: Command): void {
  const codex = program
    .command('codex')
    .description('Codex bot orchestration: the registry, the supervisor, and the management API with its dashboard')
    .option('--registry <file>', 'JSON registry file (default REGISTRY_FILE or ./codex32_registry.json)')
    .option('--database-url <url>', 'PostgreSQL registry (default DATABASE_URL when REGISTRY_BACKEND=postgres)');
  const bots = codex.command('bots').description('list, add, run, stop and inspect bots');

  const list = bots
    .command('list')
    .description('bots in creation order')
    .option('--status <status>', `only this status (${BOT_STATUSES.join(', ')})`, choice(BOT_STATUSES, 'status'))
    .option('--role <role>', `only this role (${BOT_ROLES.join(', ')})`, choice(BOT_ROLES, 'role'))
    .option('--json', 'print {bots, total, stats} as JSON');
  list.action(
    withRegistry(list, async (registry, opts: { status?: BotStatus; role?: BotRole; json?: boolean }) => {
      const result = await registry.bots.list({ ...(opts.status ? { status: opts.status } : {}), ...(opts.role ? { role: opts.role } : {}) });
      if (opts.json) console.log(JSON.stringify({ ...result, stats: await registry.bots.stats() }));
      else console.log(result.total === 0 ? 'no bots yet: add one with `ecps codex bots add <id> --name <name> --blueprint <path>`' : table(result.bots));
    }),
  );

  const add = bots
    .command('add')
    .description('register a bot (status created); the blueprint is checked when it starts')
    .argument('[id]', 'bot id: [a-z0-9_-]{1,64}')
    .option('--name <name>', 'unique name (default: the id)')
    .option('--blueprint <path>', 'script path relative to BOTS_DIRECTORY')
    .option('--role <role>', 'worker, collector, analyzer, aggregator, orchestrator or custom')
    .option('--interpreter <name>', 'a key of BOT_INTERPRETERS (default python3)')
    .option('--description <text>', 'what it does')
    .option('--file <bot.json>', 'the whole bot body as JSON (flags override its fields)')
    .option('--json', 'print the stored bot as JSON');
  add.action(
    withRegistry(add, async (registry, id: string | undefined, opts: { name?: string; blueprint?: string; role?: string; interpreter?: string; description?: string; file?: string; json?: boolean }) => {
      const body: Record<string, unknown> = opts.file ? (JSON.parse(readFileSync(opts.file, 'utf8')) as Record<string, unknown>) : {};
      if (id) body['id'] = id;
      const name = opts.name ?? body['name'] ?? id;
      if (name !== undefined) body['name'] = name;
      if (opts.blueprint) body['blueprint'] = opts.blueprint;
      if (opts.role) body['role'] = opts.role;
      if (opts.description) body['description'] = opts.description;
      if (opts.interpreter) body['deployment_config'] = { ...(body['deployment_config'] as object | undefined), interpreter: opts.interpreter };
      const bot = await registry.bots.create(newBot(body, Date.now()));
      console.log(opts.json ? JSON.stringify(bot) : `added ${bot.id} (${bot.name}); start it with \`ecps codex bots start ${bot.id}\``);
    }),
  );

  const start = bots
    .command('start')
    .description('start bots and supervise them in the foreground (with every bot whose desired state is running) until Ctrl-C, which stops them all')
    .argument('<ids...>', 'bot ids');
  start.action(
    withRegistry(start, async (registry, ids: string[]) => {
      const supervisor = await supervisorFor(registry);
      registry.events.subscribe((event) => {
        const line = describeEvent(event);
        if (line) console.log(line);
      });
      try {
        await supervisor.reconcile();
        for (const id of ids) {
          const { status, bot } = await supervisor.start(id);
          console.log(`${id}: ${status === 'already_running' ? 'already running' : 'started'} (pid ${bot.process_id})`);
        }
        supervisor.startLoop();
        console.log('supervising; Ctrl-C stops every bot');
        await new Promise<void>((done) => {
          process.once('SIGINT', done);
          process.once('SIGTERM', done);
        });
      } finally {
        await supervisor.shutdown();
      }
    }),
  );

  const stop = bots.command('stop').description('stop a bot (SIGTERM, SIGKILL after STOP_GRACE_SEC) and cancel its restarts').argument('<id>', 'bot id').option('--reason <text>', 'recorded with the stop');
  stop.action(
    withRegistry(stop, async (registry, id: string, opts: { reason?: string }) => {
      const supervisor = await supervisorFor(registry);
      try {
        const { status, bot } = await supervisor.stop(id, opts.reason);
        console.log(status === 'not_running' ? `${id}: not running (${bot.status})` : `${id}: stopped`);
      } finally {
        await supervisor.shutdown();
      }
    }),
  );

  const logs = bots
    .command('logs')
    .description("the tail of a bot's output")
    .argument('<id>', 'bot id')
    .option('--stream <stream>', 'stdout or stderr', choice(['stdout', 'stderr'] as const, 'stream'), 'stdout')
    .option('--tail <bytes>', 'bytes from the end (max 1 MiB)', positiveInteger('--tail'), 65_536);
  logs.action(
    withRegistry(logs, async (registry, id: string, opts: { stream: 'stdout' | 'stderr'; tail: number }) => {
      if (!(await registry.bots.get(id))) throw new CodexError('not_found', `no bot ${id}`);
      const { logDir } = supervisorConfigFromEnv(process.env, process.cwd());
      process.stdout.write(await readLogTail(logFile(logDir, id, opts.stream), Math.min(opts.tail, 1024 * 1024)));
    }),
  );

  const incidents = bots
    .command('incidents')
    .description('recent incidents, newest last')
    .option('--bot <id>', 'only this bot')
    .option('--kind <kind>', `only this kind (${INCIDENT_KINDS.join(', ')})`, choice(INCIDENT_KINDS, 'kind'))
    .option('--limit <n>', 'at most this many (max 1000)', positiveInteger('--limit'), 200)
    .option('--json', 'one JSON object per line');
  incidents.action(
    withRegistry(incidents, async (registry, opts: { bot?: string; kind?: IncidentKind; limit: number; json?: boolean }) => {
      const found = await registry.incidents.tail({ limit: opts.limit, ...(opts.bot ? { bot_id: opts.bot } : {}), ...(opts.kind ? { kind: opts.kind } : {}) });
      for (const i of found) console.log(opts.json ? JSON.stringify(i) : `${i.created_at}  ${i.bot_id ?? 'system'}  ${i.kind}  ${i.message}`);
    }),
  );

  codex
    .command('serve')
    .description('run the management API, the supervisor and the dashboard until SIGINT/SIGTERM, which stop every bot (configured by the environment: HOST, PORT, API_SECRET_KEY, REGISTRY_BACKEND, DATABASE_URL, BOTS_DIRECTORY, STT_PROVIDER, …)')
    .action(async () => {
      const flags = codex.opts<RegistryFlags>();
      const env = { ...process.env };
      if (flags.registry) env['REGISTRY_FILE'] = resolve(flags.registry);
      if (flags.databaseUrl) Object.assign(env, { REGISTRY_BACKEND: 'postgres', DATABASE_URL: flags.databaseUrl });
      let server;
      try {
        server = await startCodexServer({ env, baseDir: process.cwd(), logger: stderrLogger });
      } catch (error) {
        if (isApiError(error, 'config_invalid')) {
          console.error(error.message);
          process.exitCode = 2; // a configuration refusal: retrying the same command cannot help
          return;
        }
        if (!isCodexError(error)) throw error;
        console.error(error.message);
        process.exitCode = error.reason === 'registry_locked' || error.reason === 'registry_corrupt' ? EXIT_CODES[error.reason] : 1;
        return;
      }
      console.log(`Codex API listening on ${server.url}`);
      console.log(`dashboard: ${server.url}/api/v1/dashboard`);
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await server.close();
      console.log('stopped every bot; bye');
    });

  codex
    .command('hash-password')
    .description('read a password (at least 12 characters) on stdin and print CODEX32_BOOTSTRAP_ADMIN=<username>:<bcrypt hash>')
    .argument('<username>', 'the admin to create at the next start: [a-z0-9_.-]{3,64}')
    .action(async (username: string) => {
      if (!/^[a-z0-9_.-]{3,64}$/.test(username)) throw new Error('username must match [a-z0-9_.-]{3,64}');
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      try {
        console.log(`CODEX32_BOOTSTRAP_ADMIN=${username}:${await hashPassword(password)}`);
      } catch (error) {
        if (!isApiError(error)) throw error;
        console.error(error.message);
        process.exitCode = 2;
      }
    });
}
