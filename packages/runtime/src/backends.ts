// SPDX-License-Identifier: Apache-2.0
// Backends are found among the installed packages: a configured name maps to the package that provides it, which
// is loaded with a dynamic import only when configured. The runtime depends on none of them, so a deployment
// installs only what it uses.
import { EcpsError } from '@ecps/core';

/** Configured name → package, per kind of backend. Each package's public factory is what the runtime calls. */
export const BACKEND_PACKAGES = {
  transport: { mqtt: '@ecps/transport-mqtt', grpc: '@ecps/transport-grpc', dds: '@ecps/transport-dds', memory: '@ecps/transport-memory' },
  trust: { software: '@ecps/trust' },
  hardware: { tpm: '@ecps/trust-tpm', pkcs11: '@ecps/trust-pkcs11' },
  coordination: { raft: '@ecps/raft', etcd: '@ecps/coordination-etcd' },
  kms: { aws_kms: '@ecps/kms-aws', vault: '@ecps/kms-vault', azure_kv: '@ecps/kms-azure', gcp_kms: '@ecps/kms-gcp' },
} as const;

/** Loads a package by name; the default is the runtime's own `import()`. An app may pass its own (its resolution). */
export type ImportBackend = (packageName: string) => Promise<unknown>;

export const defaultImportBackend: ImportBackend = (packageName) => import(packageName);

/**
 * A configured backend whose package is not installed (code `NOT_FOUND`; details `setting`, `backend`, `package`),
 * or an installed package that lacks the export the runtime calls (code `UNSUPPORTED`: a version mismatch).
 */
export class BackendMissingError extends EcpsError {
  constructor(message: string, options: { code: 'NOT_FOUND' | 'UNSUPPORTED'; details: { setting: string; backend: string; package: string }; cause?: unknown }) {
    super(options.code, message, { details: options.details, ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.name = 'BackendMissingError';
  }
}

function isModuleNotFound(error: unknown, packageName: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (!e || (e.code !== 'ERR_MODULE_NOT_FOUND' && e.code !== 'MODULE_NOT_FOUND')) return false;
  // only the package itself: a missing dependency *inside* it is its own failure, reported as is
  return typeof e.message === 'string' && (e.message.includes(`'${packageName}'`) || e.message.includes(`"${packageName}"`));
}

/** What a loaded backend module is used through: its named exports. */
export interface BackendModule {
  readonly packageName: string;
  /** The named export, which must be a function (factory or class). Throws BackendMissingError `UNSUPPORTED`. */
  get<T extends (...args: never[]) => unknown>(exportName: string): T;
}

/**
 * Imports the package that provides `backend` for `setting` (e.g. `ECPS_TRANSPORT`, `mqtt`).
 * Throws BackendMissingError `NOT_FOUND` naming the package to install when it is not installed; an error raised
 * while the installed package loads passes through unchanged.
 */
export async function loadBackend(
  setting: string,
  backend: string,
  packageName: string,
  importBackend: ImportBackend = defaultImportBackend,
): Promise<BackendModule> {
  const details = { setting, backend, package: packageName };
  let loaded: unknown;
  try {
    loaded = await importBackend(packageName);
  } catch (error) {
    if (!isModuleNotFound(error, packageName)) throw error;
    throw new BackendMissingError(`${setting}=${backend} needs the package ${packageName}, which is not installed: install it (pnpm add ${packageName})`, {
      code: 'NOT_FOUND',
      details,
      cause: error,
    });
  }
  const module = loaded as Record<string, unknown> & { default?: Record<string, unknown> };
  return {
    packageName,
    get<T>(exportName: string): T {
      const value = module[exportName] ?? module.default?.[exportName]; // a CommonJS module imported as ESM
      if (typeof value !== 'function') {
        throw new BackendMissingError(`${packageName} does not export ${exportName} (needed for ${setting}=${backend}): update it`, {
          code: 'UNSUPPORTED',
          details,
        });
      }
      return value as T;
    },
  };
}
