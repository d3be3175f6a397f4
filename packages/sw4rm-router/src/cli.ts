#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// sw4rm-router [serve] [--db PATH] [--port N] [--host H]
// sw4rm-router fixture --db PATH [--port N] [--agent ID] [--producer ID] [--message-id ID]   (spec §6.3)
// Logs go to stderr; the fixture prints exactly one stdout line when ready.
import type { Logger } from '@ecps/core';
import { MessageType, buildEnvelope } from '@ecps/sw4rm';
import { Envelope } from '@ecps/sw4rm/proto';
import { routerConfigFromEnv } from './config';
import { handleSignals, startRouter } from './server';

const stderrLogger: Logger = {
  debug: () => undefined,
  info: (m, f) => process.stderr.write(`INFO ${m} ${f ? JSON.stringify(f) : ''}\n`),
  warn: (m, f) => process.stderr.write(`WARN ${m} ${f ? JSON.stringify(f) : ''}\n`),
  error: (m, f) => process.stderr.write(`ERROR ${m} ${f ? JSON.stringify(f) : ''}\n`),
};

function flags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
      else out.set(a.slice(2), argv[++i] ?? '');
    }
  }
  return out;
}

async function main(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  const mode = first === 'fixture' || first === 'serve' ? first : 'serve';
  const f = flags(first === mode ? rest : process.argv.slice(2));
  const env = routerConfigFromEnv();
  if (mode === 'fixture') {
    const db = f.get('db');
    if (!db) throw new Error('fixture: --db PATH is required');
    const agent = f.get('agent') || 'consumer-1';
    const producer = f.get('producer') || 'producer-1';
    const messageId = f.get('message-id') || 'js-parity-message';
    const running = await startRouter({ ...env, dbPath: db, host: '127.0.0.1', port: Number(f.get('port') ?? 0), drainGraceMs: 0, logger: stderrLogger });
    await running.router.addKnownAgent(agent);
    await running.router.addKnownAgent(producer);
    const seed = buildEnvelope({ producerId: producer, messageType: MessageType.DATA, messageId, contentType: 'application/json', payload: JSON.stringify({ fixture: 'sw4rm-router', message_id: messageId }) });
    const result = await running.router.sendMessage(Envelope.encode(seed).finish());
    stderrLogger.info('fixture seeded', { ...result });
    process.stdout.write(`${JSON.stringify({ ready: true, port: running.port, agent, message_id: messageId })}\n`);
    handleSignals(running, stderrLogger);
    return;
  }
  const running = await startRouter({
    ...env,
    ...(f.get('db') ? { dbPath: f.get('db')! } : {}),
    host: f.get('host') ?? process.env['SW4RM_BIND_HOST'] ?? '127.0.0.1',
    port: Number(f.get('port') ?? process.env['ROUTER_PORT'] ?? 50051),
    logger: stderrLogger,
  });
  stderrLogger.info('router listening', { port: running.port, db: running.router.config.dbPath });
  process.stdout.write(`${JSON.stringify({ ready: true, port: running.port })}\n`);
  handleSignals(running, stderrLogger);
}

main().catch((err: unknown) => {
  process.stderr.write(`sw4rm-router: ${String(err)}\n`);
  process.exit(1);
});
