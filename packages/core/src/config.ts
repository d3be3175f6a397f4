// SPDX-License-Identifier: Apache-2.0
// Configuration precedence shared by every package: defaults < file named by ECPS_CONFIG < ECPS_* env < options.
import { readFileSync } from 'node:fs';
import { ValidationError } from './errors';

export type ConfigObject = { [key: string]: unknown };

export interface ResolveConfigInput<T extends ConfigObject> {
  defaults: T;
  /** Explicit options: the highest precedence. */
  options?: DeepPartial<T>;
  /** Defaults to `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends ConfigObject ? DeepPartial<T[K]> : T[K] };

/**
 * Merges configuration layers. The file named by `ECPS_CONFIG` is JSON. Environment variables map to keys as
 * `ECPS_NODE_ID` → `nodeId` and `ECPS_MQTT__URL` → `mqtt.url` (`__` nests); values that parse as JSON
 * (numbers, booleans, objects) are taken as such, anything else as a string. Only keys present in `defaults`
 * are read from the environment, so a stray variable cannot inject configuration.
 * Throws `CONFIG_INVALID` for an unreadable or malformed config file.
 */
export function resolveConfig<T extends ConfigObject>(input: ResolveConfigInput<T>): T {
  const env = input.env ?? process.env;
  let merged: ConfigObject = structuredClone(input.defaults);
  const file = env['ECPS_CONFIG'];
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (cause) {
      throw new ValidationError('CONFIG_INVALID', `cannot read config file ${file}`, { cause });
    }
    if (!isObject(parsed)) throw new ValidationError('CONFIG_INVALID', `config file ${file} is not a JSON object`);
    merged = deepMerge(merged, parsed);
  }
  merged = deepMerge(merged, fromEnv(input.defaults, env));
  if (input.options) merged = deepMerge(merged, input.options as ConfigObject);
  return merged as T;
}

function fromEnv(shape: ConfigObject, env: Readonly<Record<string, string | undefined>>, prefix = 'ECPS_'): ConfigObject {
  const out: ConfigObject = {};
  for (const [key, value] of Object.entries(shape)) {
    const name = prefix + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    if (isObject(value)) {
      const nested = fromEnv(value, env, `${name}__`);
      if (Object.keys(nested).length > 0) out[key] = nested;
      continue;
    }
    const raw = env[name];
    if (raw === undefined) continue;
    out[key] = typeof value === 'string' ? raw : parseScalar(raw);
  }
  return out;
}

function parseScalar(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function isObject(value: unknown): value is ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function deepMerge(base: ConfigObject, over: ConfigObject): ConfigObject {
  const out: ConfigObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    out[key] = isObject(value) && isObject(base[key]) ? deepMerge(base[key] as ConfigObject, value) : value;
  }
  return out;
}
