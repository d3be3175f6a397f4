// SPDX-License-Identifier: Apache-2.0
// `ecps codex bots …`: the Codex registry and supervisor from the command line, on the JSON file by default and on
// PostgreSQL with --database-url; `ecps codex serve` runs the management API and dashboard of @ecps/codex-api.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { Logger } from '@ecps/core';
// Types only: the registry, the supervisor and the API (Fastify, bcrypt, pg) load inside the actions, so that
// `ecps --help` and every other command start without them.
import type { Bot, BotRole, BotStatus, CodexEvent, CorruptPolicy, IncidentKind, Registry } from '@ecps/codex-registry';
import type { Supervisor } from '@ecps/codex-supervisor';
import { integer, jsonOption, quietExit, stderrLogger, untilAborted, usageError } from '../kit/index';
import type { CommandContext, EcpsCommand } from '../kit/index';

/** The registry's closed lists, for the options' choices (test/codex-command.test.ts checks they match the registry's). */
export const CODEX_CHOICES = {
  statuses: ['created', 'deploying', 'running', 'stopping', 'stopped', 'failed', 'error'],
  roles: ['worker', 'collector', 'analyzer', 'aggregator', 'orchestrator', 'custom'],
  incidentKinds: [
    'unhealthy', 'restart', 'restart_failed', 'fallback', 'fallback_failed', 'quarantined',
    'exited', 'health_check_failed', 'memory_limit_exceeded', 'cpu_warning', 'reconciled', 'registry_corrupt',
  ],
} as const satisfies { statuses: readonly BotStatus[]; roles: readonly BotRole[]; incidentKinds: readonly IncidentKind[] };

interface RegistryFlags {
  registry?: string;
  databaseUrl?: string;
}

/** The registry named by the flags, else by REGISTRY_BACKEND / DATABASE_URL / REGISTRY_FILE, else ./codex32_registry.json. */
async function open(flags: RegistryFlags, logger: Logger, env = process.env): Promise<Registry> {
  const { openRegistry } = await import('@ecps/codex-registry');
  const databaseUrl = flags.databaseUrl ?? (env['REGISTRY_BACKEND'] === 'postgres' ? env['DATABASE_URL'] : undefined);
  if (databaseUrl) return openRegistry({ backend: 'postgres', databaseUrl, logger });
  return openRegistry({
    backend: 'json',
    file: resolve(flags.registry ?? env['REGISTRY_FILE'] ?? 'codex32_registry.json'),
    ...(env['INCIDENT_LOG'] ? { incidentLog: resolve(env['INCIDENT_LOG']) } : {}),
    ...(env['REGISTRY_CORRUPT_POLICY'] ? { corruptPolicy: env['REGISTRY_CORRUPT_POLICY'] as CorruptPolicy } : {}),
    logger,
  });
}

async function supervisorFor(registry: Registry, logger: Logger): Promise<Supervisor> {
  const { Supervisor, supervisorConfigFromEnv } = await import('@ecps/codex-supervisor');
  return Supervisor.create({ store: registry.bots, incidents: registry.incidents, config: supervisorConfigFromEnv(process.env, process.cwd()), logger });
}

/** Runs `work` on the open registry; a Codex error becomes its message on stderr and its exit code (75, 78 or 1). */
function withRegistry<A extends unknown[]>(
  ctx: CommandContext,
  command: Command,
  work: (registry: Registry, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let registry: Registry | undefined;
    try {
      registry = await open(command.optsWithGlobals<RegistryFlags>(), stderrLogger(ctx.out, { quiet: true }));
      await work(registry, ...args);
    } catch (error) {
      throw await codexFailure(ctx, error);
    } finally {
      await registry?.close();
    }
  };
}

/** A Codex error becomes its message on stderr and its exit code (75 locked, 78 corrupt, else 1); others pass. */
async function codexFailure(ctx: CommandContext, error: unknown): Promise<unknown> {
  const { EXIT_CODES, isCodexError } = await import('@ecps/codex-registry');
  if (!isCodexError(error)) return error;
  ctx.out.message(error.message);
  return quietExit(error.reason === 'registry_locked' || error.reason === 'registry_corrupt' ? EXIT_CODES[error.reason] : 1);
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

/** `ecps codex bots list|add|start|stop|logs|incidents`, `ecps codex serve`, `ecps codex hash-password`. */
const codex: EcpsCommand = (program, ctx) => {
  const codex = program
    .command('codex')
    .description('Codex bot orchestration: the registry, the supervisor, and the management API with its dashboard')
    .option('--registry <file>', 'JSON registry file (default REGISTRY_FILE or ./codex32_registry.json)')
    .option('--database-url <url>', 'PostgreSQL registry (default DATABASE_URL when REGISTRY_BACKEND=postgres)');
  const bots = codex.command('bots').description('list, add, run, stop and inspect bots');

  const list = bots
    .command('list')
    .description('bots in creation order')
    .addOption(new Option('--status <status>', 'only this status').choices(CODEX_CHOICES.statuses))
    .addOption(new Option('--role <role>', 'only this role').choices(CODEX_CHOICES.roles))
    .option('--json', 'print {bots, total, stats} as JSON');
  list.action(
    withRegistry(ctx, list, async (registry, opts: { status?: BotStatus; role?: BotRole; json?: boolean }) => {
      const result = await registry.bots.list({ ...(opts.status ? { status: opts.status } : {}), ...(opts.role ? { role: opts.role } : {}) });
      if (opts.json) ctx.out.line(JSON.stringify({ ...result, stats: await registry.bots.stats() }));
      else ctx.out.line(result.total === 0 ? 'no bots yet: add one with `ecps codex bots add <id> --name <name> --blueprint <path>`' : table(result.bots));
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
    withRegistry(ctx, add, async (registry, id: string | undefined, opts: { name?: string; blueprint?: string; role?: string; interpreter?: string; description?: string; file?: string; json?: boolean }) => {
      const body: Record<string, unknown> = opts.file ? (JSON.parse(readFileSync(opts.file, 'utf8')) as Record<string, unknown>) : {};
      if (id) body['id'] = id;
      const name = opts.name ?? body['name'] ?? id;
      if (name !== undefined) body['name'] = name;
      if (opts.blueprint) body['blueprint'] = opts.blueprint;
      if (opts.role) body['role'] = opts.role;
      if (opts.description) body['description'] = opts.description;
      if (opts.interpreter) body['deployment_config'] = { ...(body['deployment_config'] as object | undefined), interpreter: opts.interpreter };
      const { newBot } = await import('@ecps/codex-registry');
      const bot = await registry.bots.create(newBot(body, Date.now()));
      ctx.out.line(opts.json ? JSON.stringify(bot) : `added ${bot.id} (${bot.name}); start it with \`ecps codex bots start ${bot.id}\``);
    }),
  );

  const start = bots
    .command('start')
    .description('start bots and supervise them in the foreground (with every bot whose desired state is running) until Ctrl-C, which stops them all')
    .argument('<ids...>', 'bot ids')
    .option('--json', 'one JSON object per line: {id, started, pid} per bot, then {supervising: true}, then the events (bot.status, incident)');
  start.action(
    withRegistry(ctx, start, async (registry, ids: string[], opts: { json?: boolean }) => {
      const supervisor = await supervisorFor(registry, stderrLogger(ctx.out, { quiet: true }));
      registry.events.subscribe((event) => {
        if (opts.json) {
          if (event.type === 'bot.status' || event.type === 'incident') ctx.out.json(event);
          return;
        }
        const line = describeEvent(event);
        if (line) ctx.out.line(line);
      });
      try {
        await supervisor.reconcile();
        for (const id of ids) {
          const { status, bot } = await supervisor.start(id);
          if (opts.json) ctx.out.json({ id, started: status !== 'already_running', pid: bot.process_id });
          else ctx.out.line(`${id}: ${status === 'already_running' ? 'already running' : 'started'} (pid ${bot.process_id})`);
        }
        supervisor.startLoop();
        if (opts.json) ctx.out.json({ supervising: true });
        else ctx.out.line('supervising; Ctrl-C stops every bot');
        await untilAborted(ctx.interrupted);
      } finally {
        await supervisor.shutdown();
      }
    }),
  );

  const stop = bots
    .command('stop')
    .description('stop a bot (SIGTERM, SIGKILL after STOP_GRACE_SEC) and cancel its restarts')
    .argument('<id>', 'bot id')
    .option('--reason <text>', 'recorded with the stop')
    .option('--json', 'print {id, stopped, status} as JSON');
  stop.action(
    withRegistry(ctx, stop, async (registry, id: string, opts: { reason?: string; json?: boolean }) => {
      const supervisor = await supervisorFor(registry, stderrLogger(ctx.out, { quiet: true }));
      try {
        const { status, bot } = await supervisor.stop(id, opts.reason);
        if (opts.json) ctx.out.json({ id, stopped: status !== 'not_running', status: bot.status });
        else ctx.out.line(status === 'not_running' ? `${id}: not running (${bot.status})` : `${id}: stopped`);
      } finally {
        await supervisor.shutdown();
      }
    }),
  );

  const logs = bots
    .command('logs')
    .description("the tail of a bot's output")
    .argument('<id>', 'bot id')
    .addOption(new Option('--stream <stream>', 'which output').choices(['stdout', 'stderr']).default('stdout'))
    .option('--tail <bytes>', 'bytes from the end (max 1 MiB)', integer({ min: 1 }), 65_536)
    .option('--json', 'print {id, stream, file, text} as JSON');
  logs.action(
    withRegistry(ctx, logs, async (registry, id: string, opts: { stream: 'stdout' | 'stderr'; tail: number; json?: boolean }) => {
      const [{ CodexError }, { logFile, readLogTail, supervisorConfigFromEnv }] = await Promise.all([import('@ecps/codex-registry'), import('@ecps/codex-supervisor')]);
      if (!(await registry.bots.get(id))) throw new CodexError('not_found', `no bot ${id}`);
      const file = logFile(supervisorConfigFromEnv(process.env, process.cwd()).logDir, id, opts.stream);
      const text = await readLogTail(file, Math.min(opts.tail, 1024 * 1024));
      if (opts.json) ctx.out.json({ id, stream: opts.stream, file, text });
      else ctx.out.write(text);
    }),
  );

  const incidents = bots
    .command('incidents')
    .description('recent incidents, newest last')
    .option('--bot <id>', 'only this bot')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(CODEX_CHOICES.incidentKinds))
    .option('--limit <n>', 'at most this many (max 1000)', integer({ min: 1 }), 200)
    .option('--json', 'one JSON object per line');
  incidents.action(
    withRegistry(ctx, incidents, async (registry, opts: { bot?: string; kind?: IncidentKind; limit: number; json?: boolean }) => {
      const found = await registry.incidents.tail({ limit: opts.limit, ...(opts.bot ? { bot_id: opts.bot } : {}), ...(opts.kind ? { kind: opts.kind } : {}) });
      for (const i of found) ctx.out.line(opts.json ? JSON.stringify(i) : `${i.created_at}  ${i.bot_id ?? 'system'}  ${i.kind}  ${i.message}`);
    }),
  );

  codex
    .command('serve')
    .description(
      'run the management API, the supervisor and the dashboard until Ctrl-C, which stops every bot (configured by the environment: HOST, PORT, API_SECRET_KEY, REGISTRY_BACKEND, DATABASE_URL, BOTS_DIRECTORY, STT_PROVIDER, …)',
    )
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => {
      const flags = codex.opts<RegistryFlags>();
      const env = { ...process.env };
      if (flags.registry) env['REGISTRY_FILE'] = resolve(flags.registry);
      if (flags.databaseUrl) Object.assign(env, { REGISTRY_BACKEND: 'postgres', DATABASE_URL: flags.databaseUrl });
      const { startCodexServer } = await import('@ecps/codex-api');
      // a configuration the API refuses (a placeholder API_SECRET_KEY, a bad PORT) is a CONFIG_INVALID error: exit 2
      const server = await startCodexServer({ env, baseDir: process.cwd(), logger: stderrLogger(ctx.out, { quiet: true }) }).catch(async (error: unknown) => {
        throw await codexFailure(ctx, error);
      });
      const dashboard = `${server.url}/api/v1/dashboard`;
      if (opts.json) ctx.out.json({ ready: true, url: server.url, dashboard });
      else {
        ctx.out.line(`Codex API listening on ${server.url}`);
        ctx.out.line(`dashboard: ${dashboard}`);
      }
      await untilAborted(ctx.interrupted);
      await server.close();
      ctx.out.message('ecps codex serve: stopped every bot');
    });

  codex
    .command('hash-password')
    .description('read a password (at least 12 characters) on stdin and print CODEX32_BOOTSTRAP_ADMIN=<username>:<bcrypt hash>')
    .argument('<username>', 'the admin to create at the next start: [a-z0-9_.-]{3,64}')
    .action(async (username: string) => {
      if (!/^[a-z0-9_.-]{3,64}$/.test(username)) throw usageError(`username ${username} must match [a-z0-9_.-]{3,64}`);
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      const { hashPassword } = await import('@ecps/codex-api');
      // a password the API refuses (too short) is an INVALID_ARGUMENT error: exit 2
      ctx.out.line(`CODEX32_BOOTSTRAP_ADMIN=${username}:${await hashPassword(password)}`);
    });
};

export default codex;
