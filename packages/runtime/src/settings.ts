// SPDX-License-Identifier: Apache-2.0
// Every setting a node can be configured with, in one table: its key in a config file, its environment variable,
// how its value is checked, its default, whether it is a secret, and which package reads it. The runtime README's
// settings table documents the same list (a test keeps the two in step).
import { ValidationError } from '@ecps/core';

/** How a setting's raw value (a string from the environment, anything from a file or options) is checked. */
type Kind =
  | { type: 'string'; pattern?: RegExp; hint?: string }
  | { type: 'int'; min: number; max: number }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  /** A comma-separated string (environment) or an array of strings (file, options): 1 to `max` items, each matching. */
  | { type: 'list'; item: RegExp; hint: string; max: number };

export interface SettingSpec {
  /** Dotted key in a config file and in options (`mqtt.broker`). */
  readonly key: string;
  /** Environment variable (`ECPS_MQTT_BROKER`). */
  readonly env: string;
  readonly kind: Kind;
  /** Absent when the setting has no default (it is then unset unless given). */
  readonly default?: string | number | boolean;
  /** Redacted in the effective configuration a node reports. */
  readonly secret?: boolean;
  /** Package that acts on it. */
  readonly reader: string;
  readonly meaning: string;
}

const str = (pattern?: RegExp, hint?: string): Kind => ({ type: 'string', ...(pattern ? { pattern } : {}), ...(hint ? { hint } : {}) });
const oneOf = (...values: string[]): Kind => ({ type: 'enum', values });
const NON_EMPTY = /^.+$/s;
const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
// an etcd client URL: scheme, host (name, IPv4 or [IPv6]) and a port from 1 to 65535
const ETCD_ENDPOINT = /^https?:\/\/(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})$/;

/** The settings of a node, in documentation order. */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'nodeId', env: 'ECPS_NODE_ID', kind: str(NODE_ID, '[A-Za-z0-9._-]{1,64}'), reader: '@ecps/runtime', meaning: 'node id; CloudEvents source `urn:ecps:<id>` (required)' },
  { key: 'profile', env: 'ECPS_PROFILE', kind: oneOf('edge-lite', 'standard', 'cloud-fleet'), default: 'standard', reader: '@ecps/runtime', meaning: 'conformance profile: limits and allowed transports' },
  { key: 'topicPrefix', env: 'ECPS_TOPIC_PREFIX', kind: str(), default: '', reader: '@ecps/runtime', meaning: 'prepended to every topic' },
  { key: 'transport', env: 'ECPS_TRANSPORT', kind: oneOf('dds', 'grpc', 'mqtt', 'memory'), default: 'dds', reader: '@ecps/runtime', meaning: 'transport backend (the package must be installed)' },
  { key: 'connectTimeoutMs', env: 'ECPS_CONNECT_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 3_600_000 }, reader: '@ecps/runtime', meaning: 'how long the node keeps retrying (with backoff) to reach its MQTT broker or gRPC router before it fails with `UNAVAILABLE`; unset: the transport\'s default (MQTT 30 s, gRPC 10 s)' },
  { key: 'mqtt.broker', env: 'ECPS_MQTT_BROKER', kind: str(/^(mqtts?|wss?):\/\/\S+$/, 'mqtt://, mqtts://, ws:// or wss:// URL'), default: 'mqtt://127.0.0.1:1883', reader: '@ecps/transport-mqtt', meaning: 'broker URL' },
  { key: 'mqtt.protocolVersion', env: 'ECPS_MQTT_PROTOCOL_VERSION', kind: { type: 'int', min: 4, max: 5 }, default: 5, reader: '@ecps/transport-mqtt', meaning: '5 (CloudEvents binary mode) or 4 (MQTT 3.1.1, structured mode)' },
  { key: 'mqtt.username', env: 'ECPS_MQTT_USERNAME', kind: str(), reader: '@ecps/transport-mqtt', meaning: 'broker user name' },
  { key: 'mqtt.password', env: 'ECPS_MQTT_PASSWORD', kind: str(), secret: true, reader: '@ecps/transport-mqtt', meaning: 'broker password' },
  { key: 'grpc.target', env: 'ECPS_GRPC_TARGET', kind: str(/^\S+:\d{1,5}$/, 'host:port'), default: '127.0.0.1:50051', reader: '@ecps/transport-grpc', meaning: 'the gRPC bus router, `host:port`' },
  { key: 'dds.domainId', env: 'ECPS_DDS_DOMAIN_ID', kind: { type: 'int', min: 0, max: 232 }, default: 0, reader: '@ecps/transport-dds', meaning: 'DDS domain id' },
  { key: 'security.level', env: 'ECPS_SECURITY_LEVEL', kind: oneOf('none', 'encryption', 'authenticated', 'authorized', 'audited'), default: 'none', reader: '@ecps/trust', meaning: 'trust level, cumulative: `encryption` seals payloads under the fleet key of `ECPS_SEALING_KEYSTORE`; `authenticated` signs every message and accepts only those signed by a key of `ECPS_TRUSTED_KEYS` (or this node), sealed too when `ECPS_SEALING_KEYSTORE` is set; `authorized` also checks each sender against `ECPS_PRINCIPALS` (RBAC); `audited` also writes every decision to `ECPS_AUDIT_LOG`' },
  { key: 'security.session', env: 'ECPS_SECURITY_SESSION', kind: { type: 'bool' }, default: false, reader: '@ecps/trust', meaning: 'session mode at `authenticated` and `authorized`: one signed X25519 key exchange per peer pair, then AES-256-GCM per message instead of a signature per message (no non-repudiation, so refused at `audited`; see the @ecps/trust threat model)' },
  { key: 'security.keystore', env: 'ECPS_KEYSTORE', kind: str(NON_EMPTY), reader: '@ecps/trust', meaning: 'encrypted keystore file of the node signing key (created when absent); software keys only' },
  { key: 'security.keystorePassphrase', env: 'ECPS_KEYSTORE_PASSPHRASE', kind: str(NON_EMPTY), secret: true, reader: '@ecps/trust', meaning: 'passphrase of the keystore' },
  { key: 'security.trustedKeys', env: 'ECPS_TRUSTED_KEYS', kind: str(NON_EMPTY), reader: '@ecps/runtime', meaning: 'JSON file of the fleet public keys: `[{ principalId, keyId, algorithm, publicKey }]`, `publicKey` in base64 as a KeyProvider reports it (raw 32 bytes for ed25519, SPKI DER for ecdsa-p256)' },
  { key: 'security.sealingKeystore', env: 'ECPS_SEALING_KEYSTORE', kind: str(NON_EMPTY), reader: '@ecps/trust', meaning: 'encrypted keystore file (as `saveKeystore` of @ecps/trust writes it) holding the fleet sealing key, an x25519 or ecdsa-p256 key every member holds; required at `encryption`' },
  { key: 'security.sealingPassphrase', env: 'ECPS_SEALING_PASSPHRASE', kind: str(NON_EMPTY), secret: true, reader: '@ecps/trust', meaning: 'passphrase of the sealing keystore' },
  { key: 'security.sealingKeyId', env: 'ECPS_SEALING_KEY_ID', kind: str(NON_EMPTY), default: 'fleet-sealing', reader: '@ecps/trust', meaning: 'id of the sealing key in that keystore' },
  { key: 'security.principals', env: 'ECPS_PRINCIPALS', kind: str(NON_EMPTY), reader: '@ecps/runtime', meaning: 'JSON or YAML file of the RBAC policy: `{ roles?: { <role>: { \'<action>:<resource>\': true } }, principals: [{ id, kind, roles, permissions?, expiresAt? }] }`; a message needs `publish:<topic>` (requests `call:<service>`); required from `authorized`' },
  { key: 'security.auditLog', env: 'ECPS_AUDIT_LOG', kind: str(NON_EMPTY), reader: '@ecps/trust', meaning: 'file the audit records are appended to, one JSON object a line (created with mode 0600); required at `audited`' },
  { key: 'hardware.mode', env: 'ECPS_HARDWARE_SECURITY', kind: oneOf('off', 'preferred', 'required'), default: 'off', reader: '@ecps/runtime', meaning: '`required` fails when the TPM/HSM is absent; `preferred` falls back to software keys with a warning; `off` never touches hardware' },
  { key: 'hardware.backend', env: 'ECPS_HARDWARE_BACKEND', kind: oneOf('tpm', 'pkcs11'), default: 'tpm', reader: '@ecps/runtime', meaning: 'hardware key store: `tpm` (@ecps/trust-tpm) or `pkcs11` (@ecps/trust-pkcs11)' },
  { key: 'hardware.tpmDevice', env: 'ECPS_TPM_DEVICE', kind: str(NON_EMPTY), default: '/dev/tpmrm0', reader: '@ecps/trust-tpm', meaning: 'TPM device (the kernel resource manager), or `tcp://host:port` for a TPM simulator (swtpm) command port' },
  { key: 'hardware.tpmKeyFile', env: 'ECPS_TPM_KEY_FILE', kind: str(NON_EMPTY), reader: '@ecps/trust-tpm', meaning: 'file keeping the TPM-wrapped keys between runs (default: memory only)' },
  { key: 'hardware.pkcs11Module', env: 'ECPS_PKCS11_MODULE', kind: str(NON_EMPTY), reader: '@ecps/trust-pkcs11', meaning: 'path of the PKCS#11 module' },
  { key: 'hardware.pkcs11Token', env: 'ECPS_PKCS11_TOKEN', kind: str(NON_EMPTY), reader: '@ecps/trust-pkcs11', meaning: 'token label' },
  { key: 'hardware.pkcs11Pin', env: 'ECPS_PKCS11_PIN', kind: str(NON_EMPTY), secret: true, reader: '@ecps/trust-pkcs11', meaning: 'user PIN' },
  { key: 'log.enabled', env: 'ECPS_LOG_ENABLED', kind: { type: 'bool' }, default: true, reader: '@ecps/eap', meaning: 'keep the `.eaplog` action log' },
  { key: 'log.dir', env: 'ECPS_LOG_DIR', kind: str(NON_EMPTY), default: '.', reader: '@ecps/eap', meaning: 'directory of `eap_<unix_seconds>.eaplog`' },
  { key: 'log.version', env: 'ECPS_LOG_VERSION', kind: oneOf('2.0', '2.1'), default: '2.1', reader: '@ecps/eaplog', meaning: 'header version (2.0 has no compression or encryption)' },
  { key: 'log.compression', env: 'ECPS_LOG_COMPRESSION', kind: oneOf('none', 'deflate', 'zstd'), default: 'none', reader: '@ecps/eaplog', meaning: 'record compression' },
  { key: 'log.encryption', env: 'ECPS_LOG_ENCRYPTION', kind: oneOf('none', 'kms'), default: 'none', reader: '@ecps/kms', meaning: '`kms`: envelope encryption: records sealed with AES-256-GCM under a data key that `kms.keyId` of `kms.provider` wraps' },
  { key: 'kms.provider', env: 'ECPS_KMS_PROVIDER', kind: oneOf('none', 'aws_kms', 'vault', 'azure_kv', 'gcp_kms'), default: 'none', reader: '@ecps/runtime', meaning: 'cloud key service; each reads its own standard variables (`AWS_REGION`, `VAULT_ADDR`/`VAULT_TOKEN`, `ECPS_AZURE_KEYVAULT_URL`, `ECPS_GCP_KMS_KEY_RING`, ...)' },
  { key: 'kms.keyId', env: 'ECPS_KMS_KEY_ID', kind: str(NON_EMPTY), reader: '@ecps/runtime', meaning: 'key of the KMS that encrypts the action log' },
  { key: 'eap.handlers', env: 'ECPS_EAP_HANDLERS', kind: str(NON_EMPTY), reader: 'ecps node', meaning: 'module whose default export `(node) => void` registers EAP action handlers' },
  { key: 'mep.store', env: 'ECPS_MEP_STORE', kind: { type: 'bool' }, default: false, reader: '@ecps/runtime', meaning: 'host a MEP MemoryStore on this node' },
  { key: 'coordination.backend', env: 'ECPS_COORDINATION', kind: oneOf('none', 'raft', 'etcd'), default: 'none', reader: '@ecps/runtime', meaning: 'where `node.coordination` (the task table and leader elections of @ecps/tasks) keeps its state: `raft` a Raft KV cluster of ours reached over the node\'s transport (@ecps/raft), `etcd` an etcd cluster (@ecps/coordination-etcd); the package must be installed' },
  { key: 'coordination.namespace', env: 'ECPS_COORDINATION_NAMESPACE', kind: str(/^[A-Za-z0-9._/-]{0,128}$/, 'up to 128 of [A-Za-z0-9._/-]'), default: '', reader: '@ecps/runtime', meaning: 'prefix of every task and election key, so fleets can share one cluster' },
  { key: 'coordination.timeoutMs', env: 'ECPS_COORDINATION_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 600_000 }, default: 5_000, reader: '@ecps/runtime', meaning: 'deadline of each coordination call (retries on other members included); the node also fails to start when the backend does not answer a first read within it' },
  { key: 'raft.clusterId', env: 'ECPS_RAFT_CLUSTER_ID', kind: str(NODE_ID, '[A-Za-z0-9._-]{1,64}'), reader: '@ecps/raft', meaning: 'id of the Raft KV cluster (as its members serve it with `serveKv`); required with `ECPS_COORDINATION=raft`' },
  { key: 'raft.members', env: 'ECPS_RAFT_MEMBERS', kind: { type: 'list', item: NODE_ID, hint: 'node ids', max: 15 }, reader: '@ecps/raft', meaning: 'node ids of the Raft cluster\'s members, comma-separated (a list in a file), at most 15; required with `ECPS_COORDINATION=raft`' },
  { key: 'etcd.endpoints', env: 'ECPS_ETCD_ENDPOINTS', kind: { type: 'list', item: ETCD_ENDPOINT, hint: 'http(s)://host:port URLs', max: 16 }, reader: '@ecps/coordination-etcd', meaning: 'client URLs of the etcd members, comma-separated (a list in a file), at most 16; required with `ECPS_COORDINATION=etcd`' },
  { key: 'etcd.username', env: 'ECPS_ETCD_USERNAME', kind: str(NON_EMPTY), reader: '@ecps/coordination-etcd', meaning: 'etcd user (etcd authentication)' },
  { key: 'etcd.password', env: 'ECPS_ETCD_PASSWORD', kind: str(NON_EMPTY), secret: true, reader: '@ecps/coordination-etcd', meaning: 'password of that user' },
  { key: 'observability.enabled', env: 'ECPS_OBSERVABILITY', kind: { type: 'bool' }, default: false, reader: '@ecps/runtime', meaning: 'trace and meter all traffic; `ecps node` then exports over OTLP/HTTP as the `OTEL_*` variables say (@ecps/observability-node)' },
];

/** `ECPS_SECURITY_LEVEL`: the trust levels of @ecps/trust, by name. */
export type SecurityLevel = 'none' | 'encryption' | 'authenticated' | 'authorized' | 'audited';

/** The resolved settings of a node, nested as in a config file. */
export interface NodeSettings {
  nodeId: string;
  profile: 'edge-lite' | 'standard' | 'cloud-fleet';
  topicPrefix: string;
  transport: 'dds' | 'grpc' | 'mqtt' | 'memory';
  connectTimeoutMs?: number;
  mqtt: { broker: string; protocolVersion: 4 | 5; username?: string; password?: string };
  grpc: { target: string };
  dds: { domainId: number };
  security: {
    level: SecurityLevel;
    session: boolean;
    keystore?: string;
    keystorePassphrase?: string;
    trustedKeys?: string;
    sealingKeystore?: string;
    sealingPassphrase?: string;
    sealingKeyId: string;
    principals?: string;
    auditLog?: string;
  };
  hardware: {
    mode: 'off' | 'preferred' | 'required';
    backend: 'tpm' | 'pkcs11';
    tpmDevice: string;
    tpmKeyFile?: string;
    pkcs11Module?: string;
    pkcs11Token?: string;
    pkcs11Pin?: string;
  };
  log: { enabled: boolean; dir: string; version: '2.0' | '2.1'; compression: 'none' | 'deflate' | 'zstd'; encryption: 'none' | 'kms' };
  kms: { provider: 'none' | 'aws_kms' | 'vault' | 'azure_kv' | 'gcp_kms'; keyId?: string };
  eap: { handlers?: string };
  mep: { store: boolean };
  coordination: { backend: 'none' | 'raft' | 'etcd'; namespace: string; timeoutMs: number };
  raft: { clusterId?: string; members?: string[] };
  etcd: { endpoints?: string[]; username?: string; password?: string };
  observability: { enabled: boolean };
}

/** Settings given in code: any subset, nested like {@link NodeSettings}. */
export type NodeSettingsInput = { [K in keyof NodeSettings]?: NodeSettings[K] extends object ? Partial<NodeSettings[K]> : NodeSettings[K] };

/** Where a setting's value came from. */
export type SettingSource = 'default' | 'file' | 'env' | 'option';

/**
 * A setting with a bad value: `details.setting` names it (the environment variable, or the file key), `details.value`
 * the value (redacted for secrets).
 */
export class ConfigError extends ValidationError {
  constructor(message: string, details: { setting: string; value?: unknown; source?: SettingSource | undefined }, cause?: unknown) {
    super('CONFIG_INVALID', message, { details, ...(cause === undefined ? {} : { cause }) });
    this.name = 'ConfigError';
  }
}

const BY_KEY = new Map(SETTINGS.map((s) => [s.key, s]));

/** The value at a dotted key; `null` (an empty YAML entry) counts as unset. */
function getPath(object: Record<string, unknown>, key: string): unknown {
  let at: unknown = object;
  for (const part of key.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at ?? undefined;
}

function setPath(object: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = object;
  for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
  at[parts.at(-1)!] = value;
}

/** Every dotted leaf key of a plain object (`{ mqtt: { broker } }` → `mqtt.broker`). */
function leafKeys(object: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(object).flatMap(([k, v]) => {
    if (v === null || v === undefined) return []; // `eap:` with every entry commented out
    return typeof v === 'object' && !Array.isArray(v) ? leafKeys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`];
  });
}

function describe(spec: SettingSpec, source: SettingSource): string {
  return source === 'env' ? spec.env : source === 'file' ? `${spec.key} (config file)` : spec.key;
}

function shown(spec: SettingSpec, value: unknown): unknown {
  return spec.secret ? '<redacted>' : value;
}

/** Checks one value against its setting; environment strings are converted. Throws {@link ConfigError}. */
function parseValue(spec: SettingSpec, raw: unknown, source: SettingSource): string | number | boolean | string[] {
  const name = describe(spec, source);
  const bad = (expected: string): never => {
    throw new ConfigError(`${name}: invalid value ${JSON.stringify(shown(spec, raw))} (expected ${expected})`, {
      setting: name,
      value: shown(spec, raw),
      source,
    });
  };
  const kind = spec.kind;
  switch (kind.type) {
    case 'string':
      if (typeof raw !== 'string') return bad('a string');
      if (kind.pattern && !kind.pattern.test(raw)) return bad(kind.hint ?? 'a non-empty string');
      return raw;
    case 'enum': {
      const value = typeof raw === 'number' ? String(raw) : raw;
      if (typeof value !== 'string' || !kind.values.includes(value)) return bad(`one of ${kind.values.join(', ')}`);
      return value;
    }
    case 'int': {
      const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < kind.min || value > kind.max) {
        return bad(`an integer from ${kind.min} to ${kind.max}`);
      }
      return value;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const value = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (value === 'true' || value === '1' || value === 'yes' || value === 'on') return true;
      if (value === 'false' || value === '0' || value === 'no' || value === 'off') return false;
      return bad('true or false');
    }
    case 'list': {
      const items = typeof raw === 'string' ? raw.split(',').map((item) => item.trim()) : raw;
      const expected = `1 to ${kind.max} ${kind.hint}${source === 'env' ? ', comma-separated' : ''}`;
      if (!Array.isArray(items) || items.length === 0 || items.length > kind.max) return bad(expected);
      if (!items.every((item): item is string => typeof item === 'string' && kind.item.test(item))) return bad(expected);
      return [...items];
    }
  }
}

export interface ResolveSettingsInput {
  /** Explicit settings: the highest precedence. */
  options?: NodeSettingsInput;
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Parsed content of the config file (instead of reading the file `ECPS_CONFIG` names). */
  file?: Record<string, unknown>;
}

export interface ResolvedSettings {
  readonly settings: NodeSettings;
  /** Where each set value came from, by dotted key. */
  readonly sources: Readonly<Record<string, SettingSource>>;
}

/**
 * Resolves every setting: defaults < config file < `ECPS_*` environment < options. Unknown keys in the file or in
 * options are refused (a misspelt setting would otherwise be silently ignored).
 * Throws {@link ConfigError} (`CONFIG_INVALID`, details `setting`, `value`, `source`) for a bad or unknown setting
 * or a missing `nodeId`.
 */
export function resolveSettings(input: ResolveSettingsInput = {}): ResolvedSettings {
  const env = input.env ?? process.env;
  const settings: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  const layers: Array<[SettingSource, (spec: SettingSpec) => unknown]> = [
    ['default', (spec) => spec.default],
    ['file', (spec) => (input.file ? getPath(input.file, spec.key) : undefined)],
    ['env', (spec) => env[spec.env]],
    ['option', (spec) => (input.options ? getPath(input.options as Record<string, unknown>, spec.key) : undefined)],
  ];
  for (const [source, object] of [['file', input.file], ['option', input.options]] as const) {
    for (const key of object ? leafKeys(object as Record<string, unknown>) : []) {
      if (!BY_KEY.has(key)) throw new ConfigError(`unknown setting ${key}${source === 'file' ? ' in the config file' : ''}`, { setting: key, source });
    }
  }
  for (const spec of SETTINGS) {
    for (const [source, read] of layers) {
      const raw = read(spec);
      if (raw === undefined || (source === 'env' && raw === '' && spec.kind.type !== 'string')) continue;
      setPath(settings, spec.key, source === 'default' ? raw : parseValue(spec, raw, source));
      sources[spec.key] = source;
    }
  }
  if (settings['nodeId'] === undefined) {
    throw new ConfigError('ECPS_NODE_ID: a node id is required (set ECPS_NODE_ID, nodeId in the config file, or the option)', { setting: 'ECPS_NODE_ID' });
  }
  for (const group of ['mqtt', 'grpc', 'dds', 'security', 'hardware', 'log', 'kms', 'eap', 'mep', 'coordination', 'raft', 'etcd', 'observability']) settings[group] ??= {};
  return { settings: settings as unknown as NodeSettings, sources };
}

/** The settings with every secret replaced by `<redacted>`: safe to print or log. */
export function redactSettings(settings: NodeSettings): NodeSettings {
  const copy = structuredClone(settings) as unknown as Record<string, unknown>;
  for (const spec of SETTINGS) if (spec.secret && getPath(copy, spec.key) !== undefined) setPath(copy, spec.key, '<redacted>');
  return copy as unknown as NodeSettings;
}
