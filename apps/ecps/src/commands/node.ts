// SPDX-License-Identifier: Apache-2.0
// `ecps node [--config FILE] [--print-config]`: a robot node from configuration alone (@ecps/runtime's
// createNodeFromConfig), serving until SIGINT/SIGTERM, then closing cleanly (the action log is flushed).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { isEcpsError, type Logger } from '@ecps/core';
import { startNodeTelemetry, type NodeTelemetry } from '@ecps/observability-node';
import { createNodeFromConfig, redactSettings, resolveNodeSettings, type ConfiguredNode, type ImportBackend } from '@ecps/runtime';

export interface NodeCommandOptions {
  /** How backend packages are loaded; default this app's own `import()` (its installed packages). */
  importBackend?: ImportBackend;
}

/** Exit code of a configuration refused before anything started (a usage error: retrying cannot help). */
const EXIT_CONFIG = 2;

/** Configuration mistakes: bad or unknown settings, a backend package that is not installed. */
function isConfigError(error: unknown): error is Error {
  return isEcpsError(error) && (error.name === 'ConfigError' || error.name === 'BackendMissingError');
}

const stderrLogger: Logger = {
  debug() {},
  info() {},
  warn: (message) => console.error(`ecps node: warning: ${message}`),
  error: (message, fields) => console.error(`ecps node: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
};

/** Imports the EAP handlers module: its default export `(node) => void | Promise<void>` registers handlers. */
async function loadHandlers(path: string, node: ConfiguredNode): Promise<void> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  } catch (cause) {
    throw Object.assign(new Error(`ECPS_EAP_HANDLERS: cannot load ${path}: ${(cause as Error).message}`), { exitCode: EXIT_CONFIG });
  }
  if (typeof module.default !== 'function') {
    throw Object.assign(new Error(`ECPS_EAP_HANDLERS: ${path} has no default export (node) => void`), { exitCode: EXIT_CONFIG });
  }
  await (module.default as (node: ConfiguredNode) => unknown)(node);
}

function statusLines(node: ConfiguredNode, telemetry: boolean): string[] {
  const { settings: s, trust, warnings } = node.effectiveConfig;
  const where = { mqtt: s.mqtt.broker, grpc: s.grpc.target, dds: `domain ${s.dds.domainId}`, memory: 'in process' }[s.transport];
  return [
    `transport: ${s.transport} ${where} connected (profile ${s.profile})`,
    `trust: ${trust.level}${trust.sealed ? ', sealed' : ''}, keys ${trust.keys}, hardware ${trust.hardware}${warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''})` : ''}`,
    `eap: handlers ${s.eap.handlers ?? 'none'}; action log ${s.log.enabled ? `${s.log.dir} (version ${s.log.version}, compression ${s.log.compression}, encryption ${s.log.encryption})` : 'off'}`,
    `mep: ${s.mep.store ? 'store hosted' : 'client'}`,
    `observability: ${s.observability.enabled ? (telemetry ? 'traced, exported over OTLP/HTTP' : 'traced (OTEL_SDK_DISABLED)') : 'off'}`,
  ];
}

/** Registers `ecps node` on `program`. */
export function registerNode(program: Command, options: NodeCommandOptions = {}): void {
  const importBackend = options.importBackend ?? ((name: string) => import(name));
  program
    .command('node')
    .description('run a robot node from configuration (ECPS_* variables and an ECPS_CONFIG file) until interrupted')
    .option('--config <file>', 'configuration file, JSON or YAML (instead of ECPS_CONFIG)')
    .option('--print-config', 'print the effective configuration (secrets redacted) and exit')
    .action(async (opts: { config?: string; printConfig?: boolean }) => {
      const env: Record<string, string | undefined> = { ...process.env, ...(opts.config ? { ECPS_CONFIG: opts.config } : {}) };
      let node: ConfiguredNode | undefined;
      let telemetry: NodeTelemetry | undefined;
      // Held until the end: a transport that holds no handle (in-process, or one still connecting) must not let the
      // process end silently.
      const keepAlive = setInterval(() => undefined, 2 ** 30);
      try {
        const { settings, sources } = resolveNodeSettings({ env });
        if (opts.printConfig) {
          console.log(JSON.stringify({ settings: redactSettings(settings), sources }, null, 2));
          clearInterval(keepAlive);
          return;
        }
        if (settings.observability.enabled) {
          telemetry = startNodeTelemetry({ ...(env['OTEL_SERVICE_NAME'] ? {} : { serviceName: settings.nodeId }), resourceAttributes: { 'ecps.node.id': settings.nodeId } });
        }
        node = await createNodeFromConfig({
          env,
          importBackend,
          logger: stderrLogger,
          ...(telemetry ? { observability: { tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider } } : {}),
        });
        if (settings.eap.handlers) await loadHandlers(settings.eap.handlers, node);
      } catch (error) {
        await node?.close().catch(() => undefined);
        await telemetry?.shutdown();
        const code = isConfigError(error) ? EXIT_CONFIG : ((error as { exitCode?: number }).exitCode ?? 1);
        console.error(`ecps node: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = code;
        clearInterval(keepAlive);
        return;
      }
      // listening before saying ready: a signal sent as soon as "ready" is read must close the node cleanly
      const signal = new Promise<NodeJS.Signals>((done) => {
        process.once('SIGINT', () => done('SIGINT'));
        process.once('SIGTERM', () => done('SIGTERM'));
      });
      console.log(`ecps node: ${node.id} up`);
      for (const line of statusLines(node, telemetry !== undefined)) console.log(`  ${line}`);
      console.log('ecps node: ready (Ctrl-C to stop)');
      const received = await signal;
      clearInterval(keepAlive);
      console.log(`ecps node: ${received}, closing`);
      await node.close(); // closes the layers first: the action log is flushed and closed
      await telemetry?.shutdown();
      console.log('ecps node: stopped');
    });
}
