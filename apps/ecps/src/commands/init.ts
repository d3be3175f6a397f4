// SPDX-License-Identifier: Apache-2.0
// `ecps init [--output FILE] [--force]`: writes a commented example configuration for a robot node, one entry per
// setting of @ecps/runtime (so it never falls behind the settings table).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { SETTINGS } from '@ecps/runtime';

/** Values of the example robot where they differ from the defaults. */
const EXAMPLE: Readonly<Record<string, string | number | boolean>> = {
  nodeId: 'robot-1',
  profile: 'cloud-fleet',
  transport: 'mqtt',
  'log.dir': './logs',
};

/** The example configuration, YAML with a comment above each setting (unset ones commented out). */
export function exampleConfig(): string {
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

/** Registers `ecps init` on `program`. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented example configuration for a robot node')
    .option('--output <file>', 'where to write it', 'ecps.yaml')
    .option('--force', 'overwrite an existing file')
    .action((opts: { output: string; force?: boolean }) => {
      try {
        writeFileSync(opts.output, exampleConfig(), { flag: opts.force ? 'w' : 'wx', mode: 0o600 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        console.error(`ecps init: ${opts.output} exists (use --force to overwrite)`);
        process.exitCode = 2;
        return;
      }
      console.log(`ecps init: wrote ${opts.output}; run it with: ecps node --config ${opts.output}`);
    });
}
