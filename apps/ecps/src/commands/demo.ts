// SPDX-License-Identifier: Apache-2.0
// `ecps demo`: the main job, narrated; exit 0 when every check held, 1 when one did not.
import { mkdirSync } from 'node:fs';
import { isEcpsError } from '@ecps/core';
import type { DemoTransport } from '../demo/network';
import type { RunDemoOptions } from '../demo/run-demo';
import type { DemoEvent } from '../demo/step';
import { Option } from 'commander';
import { CliError, ExitCode, integer, jsonOption, quietExit, usageError } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

const BROKER_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'];

const demo: EcpsCommand = (program, ctx) => {
  program
    .command('demo')
    .description('run the demo: nodes of every layer talk over MQTT (or DDS) and gRPC, narrated step by step')
    .addOption(new Option('--transport <kind>', 'what the nodes talk over: mqtt (through a broker) or dds (Cyclone DDS on loopback)').choices(['mqtt', 'dds']).default('mqtt'))
    .option('--broker <url>', 'run over this MQTT broker (e.g. mqtt://127.0.0.1:1883) instead of one started for the run')
    .option('--domain <id>', 'the DDS domain id, 0 to 232 (with --transport dds; default 0)', integer({ min: 0, max: 232 }))
    .option('--keep-log <dir>', "keep the robot's .eaplog action log in this folder (default: a temporary folder, deleted at the end)")
    .addOption(jsonOption())
    .action(async (opts: { transport: DemoTransport; broker?: string; domain?: number; keepLog?: string; json?: boolean }) => {
      if (opts.transport === 'dds' && opts.broker !== undefined) throw usageError('--broker is for MQTT; DDS needs no broker');
      if (opts.transport !== 'dds' && opts.domain !== undefined) throw usageError('--domain is for DDS', 'add --transport dds');
      const options: RunDemoOptions = {
        transport: opts.transport,
        // Ctrl-C, or nobody reading any more (`ecps demo | head -3`): stop after cleaning up
        signal: AbortSignal.any([ctx.interrupted, ctx.out.closed]),
        out: opts.json ? () => undefined : (line) => ctx.out.line(line),
      };
      let failed: Extract<DemoEvent, { type: 'failed' }> | undefined;
      options.onEvent = (event) => {
        if (event.type === 'failed') failed = event;
        if (opts.json) ctx.out.json(event);
      };
      if (opts.broker !== undefined) options.broker = brokerUrl(opts.broker);
      if (opts.domain !== undefined) options.domainId = opts.domain;
      if (opts.keepLog !== undefined) options.keepLogDir = logFolder(opts.keepLog);
      try {
        // A wrong --broker fails before the demo's modules load: loading them all takes seconds on a busy machine.
        if (options.broker !== undefined) await (await import('../broker-probe')).probeBroker(options.broker);
        const { runDemo } = await import('../demo/run-demo'); // loaded on use: `ecps --help` stays fast
        await runDemo(options);
      } catch (error) {
        if (failed) throw new CliError('INTERNAL', `step ${failed.step} (${failed.title}) failed: ${failed.reason}`, { exitCode: ExitCode.FAILED, cause: error });
        if (isEcpsError(error, 'UNAVAILABLE')) {
          throw new CliError('UNAVAILABLE', error.message, { hint: 'is the broker running? `ecps broker` starts one; without --broker the demo starts its own' });
        }
        throw error;
      }
      if (ctx.interrupted.aborted) throw quietExit(ExitCode.INTERRUPTED);
    });
};

function brokerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`--broker ${text} is not a URL`, 'give one like mqtt://127.0.0.1:1883');
  }
  if (!BROKER_SCHEMES.includes(url.protocol)) {
    throw usageError(`--broker ${text}: ${url.protocol.slice(0, -1)} is not an MQTT scheme`, `use one of ${BROKER_SCHEMES.map((s) => s.slice(0, -1)).join(', ')}`);
  }
  return text;
}

function logFolder(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw usageError(`--keep-log ${dir}: cannot create the folder (${(cause as Error).message})`);
  }
  return dir;
}

export default demo;
