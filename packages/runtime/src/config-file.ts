// SPDX-License-Identifier: Apache-2.0
// The file named by ECPS_CONFIG: JSON (`.json`) or YAML (anything else), one object of settings.
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './settings';

/** A config file larger than this is refused rather than read into memory. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/**
 * Reads a file a setting names, refusing one larger than `maxBytes` rather than reading it into memory.
 * Throws {@link ConfigError} naming `setting` when it is unreadable or too large.
 */
export function readSettingFile(path: string, setting: string, maxBytes: number): string {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`${setting}: ${path}: ${why}`, { setting, value: path }, cause);
  };
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    return fail(`cannot read it (${(error as Error).message})`, error);
  }
  if (size > maxBytes) fail(`larger than ${maxBytes} bytes`);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return fail(`cannot read it (${(error as Error).message})`, error);
  }
}

/**
 * Reads and parses a config file (or another settings file, named by `setting`). YAML is parsed with the `yaml`
 * package (YAML 1.2, aliases bounded).
 * Throws {@link ConfigError} (naming `setting`, default `ECPS_CONFIG`) when the file is unreadable, too large,
 * malformed, or not an object.
 */
export function loadConfigFile(path: string, setting = 'ECPS_CONFIG'): Record<string, unknown> {
  const text = readSettingFile(path, setting, MAX_CONFIG_FILE_BYTES);
  const json = /\.json$/i.test(path);
  let parsed: unknown;
  try {
    parsed = json ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(`${setting}: ${path}: not valid ${json ? 'JSON' : 'YAML'} (${(error as Error).message})`, { setting, value: path }, error);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${setting}: ${path}: not an object of settings`, { setting, value: path });
  }
  return parsed as Record<string, unknown>;
}

/** The file `env.ECPS_CONFIG` names, parsed; `undefined` when it names none. */
export function configFileFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> | undefined {
  const path = env['ECPS_CONFIG'];
  return path ? loadConfigFile(path) : undefined;
}
