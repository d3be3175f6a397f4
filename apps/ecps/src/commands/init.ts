// SPDX-License-Identifier: Apache-2.0
// `ecps init [--output FILE] [--force]`: writes a commented example configuration for a robot node, one entry per
// setting of @ecps/runtime (so it never falls behind the settings table).
import { writeFileSync } from 'node:fs';
import { CliError, jsonOption } from '../kit/index';
import type { EcpsCommand } from '../kit/index';

/** Values of the example robot where they differ from the defaults. */
const EXAMPLE: Readonly<Record<string, string | number | boolean>> = {
  nodeId: 'robot-1',
  profile: 'cloud-fleet',
  transport: 'mqtt',
  'log.dir': './logs',
};

/** The example configuration, YAML with a comment above each setting (unset ones commented out). */
export async function exampleConfig(): Promise<string> {
  const [{ stringify }, { SETTINGS }] = await Promise.all([import('yaml'), import('@ecps/runtime')]);
  const lines = [
    '# ECPS robot node configuration (`ecps node --config FILE`, or ECPS_CONFIG=FILE).',
    '# Precedence: these values < ECPS_* environment variables < explicit options. Every setting is listed;',
    '# commented-out ones are unset. Secrets are better given in the environment than in this file.',
  ];
  let group = '';
  for (const spec of SETTINGS) {
    const [head, leaf] = spec.key.includes('.') ? spec.key.split('.') : ['', spec.key];
    if (head !== group) {
      group = head!;
      lines.push('', ...(group ? [`${group}:`] : []));
    }
    const indent = group ? '  ' : '';
    const value = EXAMPLE[spec.key] ?? spec.default;
    lines.push(`${indent}# ${spec.meaning} (${spec.env}; read by ${spec.reader})`);
    const entry = stringify({ [leaf!]: value ?? '' }).trimEnd();
    lines.push(value === undefined ? `${indent}# ${entry}` : `${indent}${entry}`);
  }
  return `${lines.join('\n')}\n`;
}

const init: EcpsCommand = (program, ctx) => {
  program
    .command('init')
    .description('write a commented example configuration for a robot node (every setting of `ecps node`)')
    .option('--output <file>', 'where to write it', 'ecps.yaml')
    .option('--force', 'overwrite an existing file')
    .addOption(jsonOption())
    .action(async (opts: { output: string; force?: boolean; json?: boolean }) => {
      try {
        writeFileSync(opts.output, await exampleConfig(), { flag: opts.force ? 'w' : 'wx', mode: 0o600 });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // an existing file is a usage error (exit 2): the same command cannot succeed without --force
        if (code === 'EEXIST') throw new CliError('INVALID_ARGUMENT', `${opts.output} exists`, { hint: 'use --force to overwrite it' });
        throw new CliError('INVALID_ARGUMENT', `cannot write ${opts.output}: ${(error as Error).message}`);
      }
      if (opts.json) ctx.out.json({ written: opts.output });
      else ctx.out.line(opts.output);
      ctx.out.message(`ecps init: wrote ${opts.output}; run a node with it: ecps node --config ${opts.output}`);
    });
};

export default init;
