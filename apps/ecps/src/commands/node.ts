// SPDX-License-Identifier: Apache-2.0
// `ecps node [--config FILE] [--print-config]`: a robot node from configuration alone (@ecps/runtime's
// createNodeFromConfig), serving until Ctrl-C/SIGTERM, then closing cleanly (the action log is flushed).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isEcpsError } from '@ecps/core';
import type { NodeTelemetry } from '@ecps/observability-node';
import type { ConfiguredNode, ImportBackend } from '@ecps/runtime';
import { CliError, jsonOption, stderrLogger, untilAborted } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

export interface NodeCommandOptions {
  /** How backend packages are loaded; default this app's own `import()` (its installed packages). */
  importBackend?: ImportBackend;
}

const CONFIG_HINT = "the settings are listed by 'ecps init' and in @ecps/runtime's README; 'ecps node --print-config' shows the effective ones";

/** A configuration refused before anything started (bad or unknown setting, backend package not installed): exit 2. */
function configError(error: unknown): unknown {
  if (!isEcpsError(error) || (error.name !== 'ConfigError' && error.name !== 'BackendMissingError')) return error;
  return new CliError('CONFIG_INVALID', error.message, { hint: CONFIG_HINT, cause: error });
}

/** Imports the EAP handlers module: its default export `(node) => void | Promise<void>` registers handlers. */
async function loadHandlers(path: string, node: ConfiguredNode): Promise<void> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  } catch (cause) {
    throw new CliError('CONFIG_INVALID', `ECPS_EAP_HANDLERS: cannot load ${path}: ${(cause as Error).message}`, { cause });
  }
  if (typeof module.default !== 'function') {
    throw new CliError('CONFIG_INVALID', `ECPS_EAP_HANDLERS: ${path} has no default export (node) => void`);
  }
  await (module.default as (node: ConfiguredNode) => unknown)(node);
}

/** One line per layer: what it runs and how it is configured. */
function layerStatus(node: ConfiguredNode, telemetry: boolean): Record<string, string> {
  const { settings: s, trust, warnings } = node.effectiveConfig;
  const where = { mqtt: s.mqtt.broker, grpc: s.grpc.target, dds: `domain ${s.dds.domainId}`, memory: 'in process' }[s.transport];
  return {
    transport: `${s.transport} ${where} connected (profile ${s.profile})`,
    trust: `${trust.level}${trust.sealed ? ', sealed' : ''}, keys ${trust.keys}, hardware ${trust.hardware}${warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''})` : ''}`,
    eap: `handlers ${s.eap.handlers ?? 'none'}; action log ${s.log.enabled ? `${s.log.dir} (version ${s.log.version}, compression ${s.log.compression}, encryption ${s.log.encryption})` : 'off'}`,
    mep: s.mep.store ? 'store hosted' : 'client',
    observability: s.observability.enabled ? (telemetry ? 'traced, exported over OTLP/HTTP' : 'traced (OTEL_SDK_DISABLED)') : 'off',
  };
}

/** `ecps node`, loading backend packages with `importBackend`. */
export function nodeCommand(options: NodeCommandOptions = {}): EcpsCommand {
  const importBackend = options.importBackend ?? ((name: string) => import(name));
  return (program, ctx) => {
    program
      .command('node')
      .description('run a robot node from configuration (ECPS_* variables and an ECPS_CONFIG file) until Ctrl-C')
      .option('--config <file>', 'configuration file, JSON or YAML (instead of ECPS_CONFIG)')
      .option('--print-config', 'print the effective configuration (secrets redacted) and where each setting came from, and exit')
      .addOption(jsonOption())
      .action(async (opts: { config?: string; printConfig?: boolean; json?: boolean }) => {
        // loaded on use: `ecps --help` stays fast
        const { createNodeFromConfig, redactSettings, resolveNodeSettings } = await import('@ecps/runtime');
        const env: Record<string, string | undefined> = { ...process.env, ...(opts.config ? { ECPS_CONFIG: opts.config } : {}) };
        let settings;
        let sources;
        try {
          ({ settings, sources } = resolveNodeSettings({ env }));
        } catch (error) {
          throw configError(error);
        }
        if (opts.printConfig) {
          const config = { settings: redactSettings(settings), sources };
          if (opts.json) ctx.out.json(config);
          else ctx.out.line(JSON.stringify(config, null, 2));
          return;
        }
        // Held until the end: a transport that holds no handle (in-process, or one still connecting) must not let the
        // process end before Ctrl-C.
        const keepAlive = setInterval(() => undefined, 2 ** 30);
        let node: ConfiguredNode | undefined;
        let telemetry: NodeTelemetry | undefined;
        try {
          if (settings.observability.enabled) {
            const { startNodeTelemetry } = await import('@ecps/observability-node');
            telemetry = startNodeTelemetry({ ...(env['OTEL_SERVICE_NAME'] ? {} : { serviceName: settings.nodeId }), resourceAttributes: { 'ecps.node.id': settings.nodeId } });
          }
          node = await createNodeFromConfig({
            env,
            importBackend,
            logger: stderrLogger(ctx.out, { quiet: true }),
            ...(telemetry ? { observability: { tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider } } : {}),
          }).catch((error: unknown) => {
            throw configError(error);
          });
          if (settings.eap.handlers) await loadHandlers(settings.eap.handlers, node);
          const status = layerStatus(node, telemetry !== undefined);
          if (opts.json) ctx.out.json({ ready: true, id: node.id, ...status });
          else {
            ctx.out.line(`${node.id} up`);
            for (const [layer, text] of Object.entries(status)) ctx.out.line(`  ${layer}: ${text}`);
          }
          ctx.out.message(`ecps node: ${node.id} ready (Ctrl-C to stop)`);
          await untilAborted(ctx.interrupted);
          ctx.out.message('ecps node: closing');
          const closing = node;
          node = undefined;
          await closing.close(); // closes the layers first: the action log is flushed and closed
        } finally {
          clearInterval(keepAlive);
          await node?.close().catch(() => undefined); // a start that failed half-way
          await telemetry?.shutdown();
        }
        ctx.out.message('ecps node: stopped');
      });
  };
}

export default nodeCommand();
