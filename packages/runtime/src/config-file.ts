// SPDX-License-Identifier: Apache-2.0
// The file named by ECPS_CONFIG: JSON (`.json`) or YAML (anything else), one object of settings.
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './settings';

/** A config file larger than this is refused rather than read into memory. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/**
 * Reads and parses a config file. YAML is parsed with the `yaml` package (YAML 1.2; aliases are bounded by its
 * `maxAliasCount`). Throws {@link ConfigError} (setting `ECPS_CONFIG`) when the file is unreadable, too large,
 * malformed, or not an object.
 */
export function loadConfigFile(path: string): Record<string, unknown> {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`ECPS_CONFIG: ${path}: ${why}`, { setting: 'ECPS_CONFIG', value: path }, cause);
  };
  let text = '';
  try {
    if (statSync(path).size > MAX_CONFIG_FILE_BYTES) fail(`larger than ${MAX_CONFIG_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    fail(`cannot read it (${(error as Error).message})`, error);
  }
  let parsed: unknown;
  try {
    parsed = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    fail(`not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'} (${(error as Error).message})`, error);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) fail('not an object of settings');
  return parsed as Record<string, unknown>;
}

/** The file `env.ECPS_CONFIG` names, parsed; `undefined` when it names none. */
export function configFileFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> | undefined {
  const path = env['ECPS_CONFIG'];
  return path ? loadConfigFile(path) : undefined;
}
