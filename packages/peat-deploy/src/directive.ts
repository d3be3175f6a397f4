// SPDX-License-Identifier: Apache-2.0
// Deployment directives (spec §7): what to deploy where, and how it is going. Enums are tagged by `type` with
// snake_case names; omitted options take their defaults when a directive is parsed.
import { PeatError } from '@ecps/peat';

export type ContainerRuntime = 'docker' | 'podman' | 'containerd';
export interface PortMapping {
  readonly container_port: number;
  readonly host_port: number;
  readonly protocol: 'tcp' | 'udp';
}

export type ArtifactType =
  | { readonly type: 'onnx_model'; readonly execution_providers: readonly string[] }
  | { readonly type: 'container'; readonly runtime: ContainerRuntime; readonly ports: readonly PortMapping[]; readonly env: Readonly<Record<string, string>> }
  | { readonly type: 'native_binary'; readonly arch: string; readonly args: readonly string[] }
  | { readonly type: 'config_package'; readonly target_path: string }
  | { readonly type: 'wasm_module'; readonly wasi_capabilities: readonly string[] };

export const KNOWN_ARTIFACT_TYPES: readonly string[] = ['onnx_model', 'container', 'native_binary', 'config_package', 'wasm_module'];

export interface ArtifactSpec {
  readonly blob_hash: string;
  readonly size_bytes: number;
  /** An unknown `type` is kept as read; the node then fails the deployment as unsupported. */
  readonly artifact_type: ArtifactType | { readonly type: string };
  readonly sha256: string | null;
  readonly name: string | null;
  readonly version: string | null;
}

export type DeploymentScope =
  | { readonly type: 'broadcast' }
  | { readonly type: 'formation'; readonly formation_id: string }
  | { readonly type: 'nodes'; readonly node_ids: readonly string[] }
  | {
      readonly type: 'capability';
      readonly min_gpu_memory_mb: number | null;
      readonly min_memory_mb: number | null;
      readonly min_storage_mb: number | null;
      readonly required_capabilities: readonly string[];
      readonly custom: Readonly<Record<string, unknown>>;
    };

export type DeploymentPriority = 'critical' | 'high' | 'normal' | 'low';

export interface DeploymentOptions {
  readonly priority: DeploymentPriority;
  readonly timeout_seconds: number;
  readonly replace_existing: boolean;
  readonly rollback_threshold_percent: number | null;
  readonly auto_activate: boolean;
}

export const DEFAULT_OPTIONS: DeploymentOptions = { priority: 'normal', timeout_seconds: 300, replace_existing: false, rollback_threshold_percent: null, auto_activate: true };

export interface DeploymentDirective {
  readonly directive_id: string;
  /** RFC 3339. */
  readonly issued_at: string;
  readonly issuer_node_id: string;
  readonly issuer_formation_id: string | null;
  readonly scope: DeploymentScope;
  readonly artifact: ArtifactSpec;
  readonly capabilities: readonly string[];
  readonly config: unknown;
  readonly options: DeploymentOptions;
}

export type DeploymentState = 'pending' | 'downloading' | 'activating' | 'active' | 'failed' | 'rolled_back';

export interface DeploymentStatus {
  readonly directive_id: string;
  readonly node_id: string;
  readonly reported_at: string;
  readonly state: DeploymentState;
  /** 0–100. */
  readonly progress_percent: number;
  readonly error_message: string | null;
  readonly instance_id: string | null;
}

/** Terminal for the rollback decision. */
export function isTerminal(state: DeploymentState): boolean {
  return state === 'active' || state === 'failed' || state === 'rolled_back';
}

/** `deployment_controls:<id>`. */
export interface DeploymentControl {
  readonly action: 'rollback';
  readonly issued_at: string;
  readonly issuer_node_id: string;
  readonly reason: string;
}

const bad = (msg: string): never => {
  throw new PeatError('DECODE_ERROR', `deployment directive: ${msg}`);
};
const obj = (v: unknown, what: string): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : bad(`${what} is not an object`));
const str = (v: unknown, what: string): string => (typeof v === 'string' ? v : bad(`${what} is not a string`));
const strs = (v: unknown, what: string): string[] => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : bad(`${what} is not a list of strings`));
const optNum = (v: unknown, what: string): number | null => (v == null ? null : typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(`${what} is not a non-negative number`));
const optStr = (v: unknown, what: string): string | null => (v == null ? null : str(v, what));

function parseScope(v: unknown): DeploymentScope {
  const s = obj(v, 'scope');
  switch (s['type']) {
    case 'broadcast':
      return { type: 'broadcast' };
    case 'formation':
      return { type: 'formation', formation_id: str(s['formation_id'], 'formation_id') };
    case 'nodes':
      return { type: 'nodes', node_ids: strs(s['node_ids'], 'node_ids') };
    case 'capability':
      return {
        type: 'capability',
        min_gpu_memory_mb: optNum(s['min_gpu_memory_mb'], 'min_gpu_memory_mb'),
        min_memory_mb: optNum(s['min_memory_mb'], 'min_memory_mb'),
        min_storage_mb: optNum(s['min_storage_mb'], 'min_storage_mb'),
        required_capabilities: s['required_capabilities'] == null ? [] : strs(s['required_capabilities'], 'required_capabilities'),
        custom: s['custom'] == null ? {} : obj(s['custom'], 'custom'),
      };
    default:
      return bad(`unknown scope type ${JSON.stringify(s['type'])}`);
  }
}

function parseArtifactType(v: unknown): ArtifactSpec['artifact_type'] {
  const a = obj(v, 'artifact_type');
  const type = str(a['type'], 'artifact_type.type');
  switch (type) {
    case 'onnx_model':
      return { type, execution_providers: a['execution_providers'] == null ? [] : strs(a['execution_providers'], 'execution_providers') };
    case 'container': {
      const runtime = a['runtime'] ?? 'docker';
      if (runtime !== 'docker' && runtime !== 'podman' && runtime !== 'containerd') bad(`unknown container runtime ${JSON.stringify(runtime)}`);
      const ports = ((a['ports'] ?? []) as unknown[]).map((p) => {
        const o = obj(p, 'port');
        const protocol = o['protocol'] ?? 'tcp';
        if (protocol !== 'tcp' && protocol !== 'udp') bad('port protocol');
        return { container_port: optNum(o['container_port'], 'container_port') ?? 0, host_port: optNum(o['host_port'], 'host_port') ?? 0, protocol: protocol as 'tcp' | 'udp' };
      });
      const env = obj(a['env'] ?? {}, 'env');
      for (const [k, x] of Object.entries(env)) str(x, `env.${k}`);
      return { type, runtime: runtime as ContainerRuntime, ports, env: env as Record<string, string> };
    }
    case 'native_binary':
      return { type, arch: str(a['arch'], 'arch'), args: a['args'] == null ? [] : strs(a['args'], 'args') };
    case 'config_package':
      return { type, target_path: str(a['target_path'], 'target_path') };
    case 'wasm_module':
      return { type, wasi_capabilities: a['wasi_capabilities'] == null ? [] : strs(a['wasi_capabilities'], 'wasi_capabilities') };
    default:
      return { type };
  }
}

/**
 * Reads a directive from its JSON form, filling omitted options with the defaults (normal, 300 s, no replace,
 * no rollback threshold, auto-activate). @throws PeatError `DECODE_ERROR` for a malformed directive.
 */
export function parseDirective(json: unknown): DeploymentDirective {
  const d = obj(json, 'directive');
  const art = obj(d['artifact'], 'artifact');
  const o = d['options'] == null ? {} : obj(d['options'], 'options');
  const priority = o['priority'] ?? DEFAULT_OPTIONS.priority;
  if (!['critical', 'high', 'normal', 'low'].includes(priority as string)) bad(`priority ${JSON.stringify(priority)}`);
  const threshold = optNum(o['rollback_threshold_percent'], 'rollback_threshold_percent');
  if (threshold !== null && !(Number.isInteger(threshold) && threshold <= 100)) bad('rollback_threshold_percent must be an integer 0..100');
  const timeout = optNum(o['timeout_seconds'], 'timeout_seconds') ?? DEFAULT_OPTIONS.timeout_seconds;
  const size = optNum(art['size_bytes'], 'size_bytes') ?? bad('size_bytes is required');
  if (!Number.isSafeInteger(size)) bad('size_bytes is not an integer');
  const issuedAt = str(d['issued_at'], 'issued_at');
  if (Number.isNaN(Date.parse(issuedAt))) bad('issued_at is not an RFC 3339 time');
  return {
    directive_id: str(d['directive_id'], 'directive_id'),
    issued_at: issuedAt,
    issuer_node_id: str(d['issuer_node_id'], 'issuer_node_id'),
    issuer_formation_id: optStr(d['issuer_formation_id'], 'issuer_formation_id'),
    scope: parseScope(d['scope']),
    artifact: {
      blob_hash: str(art['blob_hash'], 'blob_hash'),
      size_bytes: size,
      artifact_type: parseArtifactType(art['artifact_type']),
      sha256: optStr(art['sha256'], 'sha256'),
      name: optStr(art['name'], 'name'),
      version: optStr(art['version'], 'version'),
    },
    capabilities: d['capabilities'] == null ? [] : strs(d['capabilities'], 'capabilities'),
    config: d['config'] ?? null,
    options: {
      priority: priority as DeploymentPriority,
      timeout_seconds: timeout,
      replace_existing: typeof o['replace_existing'] === 'boolean' ? o['replace_existing'] : DEFAULT_OPTIONS.replace_existing,
      rollback_threshold_percent: threshold,
      auto_activate: typeof o['auto_activate'] === 'boolean' ? o['auto_activate'] : DEFAULT_OPTIONS.auto_activate,
    },
  };
}

/** The SHA-256 hex the artifact must hash to: from `sha256:<hex>`, else the `sha256` field. @throws PeatError `INVALID_ARGUMENT` when neither gives one. */
export function expectedSha256(artifact: Pick<ArtifactSpec, 'blob_hash' | 'sha256'>): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(artifact.blob_hash);
  if (m) return m[1]!;
  if (artifact.sha256 && /^[0-9a-f]{64}$/.test(artifact.sha256)) return artifact.sha256;
  throw new PeatError('INVALID_ARGUMENT', `artifact ${artifact.blob_hash}: no SHA-256 to verify against`);
}
