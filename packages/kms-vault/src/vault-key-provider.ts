// SPDX-License-Identifier: Apache-2.0
// The Vault KeyProvider: the token from Vault's usual sources, one backend per address, failover in that order.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Vault from 'hashi-vault-js';
import { systemClock } from '@ecps/core';
import type { Clock } from '@ecps/core';
import { KmsError, KmsKeyProvider, KmsPermissionError, KmsUnavailableError } from '@ecps/kms';
import type { KmsKeyProviderOptions } from '@ecps/kms';
import { VaultBackend } from './vault-backend';
import type { VaultEndpoint, VaultTokenSource } from './vault-backend';

export interface VaultKmsOptions extends KmsKeyProviderOptions {
  /**
   * Addresses of Vault clusters holding the same Transit keys (a primary and its performance or DR secondaries), in
   * order of preference. Default: `VAULT_ADDR`.
   */
  addresses?: readonly (string | VaultEndpoint)[];
  /** A token. Default, in order: `VAULT_TOKEN`; AppRole login; `~/.vault-token`. */
  token?: string;
  /** AppRole credentials (default `VAULT_ROLE_ID` + `VAULT_SECRET_ID`); `mount` defaults to `approle`. */
  appRole?: { roleId: string; secretId: string; mount?: string };
  /** Mount path of the Transit engine (default `transit`). */
  transitMount?: string;
}

/**
 * A KeyProvider over Vault's Transit engine. The token comes from `token`, `VAULT_TOKEN`, an AppRole login
 * (renewed by logging in again before its lease ends) or `~/.vault-token`; it is sent only in `X-Vault-Token`.
 * @throws KmsError `CONFIG_INVALID` when no address is given or set in `VAULT_ADDR`.
 */
export function vaultKeyProvider(options: VaultKmsOptions = {}): KmsKeyProvider {
  const fallback = process.env['VAULT_ADDR'];
  const addresses = options.addresses ?? (fallback ? [fallback] : []);
  if (addresses.length === 0) throw new KmsError('CONFIG_INVALID', 'Vault needs an address: pass addresses or set VAULT_ADDR');
  const endpoints = addresses.map((a) => (typeof a === 'string' ? { address: a } : a));
  const token = vaultTokenSource(options, endpoints[0] as VaultEndpoint, options.clock ?? systemClock);
  return new KmsKeyProvider(
    endpoints.map((endpoint) => new VaultBackend(endpoint, token, options.transitMount)),
    options,
  );
}

/** The token lookup described on {@link vaultKeyProvider}; an AppRole token is shared by every address. */
function vaultTokenSource(options: VaultKmsOptions, first: VaultEndpoint, clock: Clock): VaultTokenSource {
  const fixed = options.token ?? process.env['VAULT_TOKEN'];
  if (fixed) return () => Promise.resolve(fixed);
  const roleId = options.appRole?.roleId ?? process.env['VAULT_ROLE_ID'];
  const secretId = options.appRole?.secretId ?? process.env['VAULT_SECRET_ID'];
  if (roleId && secretId) {
    const client = new Vault({ https: first.address.startsWith('https:'), baseUrl: `${first.address.replace(/\/+$/, '')}/v1`, timeout: 30_000 });
    let current: { token: Promise<string>; renewAt: number } | undefined;
    return () => {
      if (current && clock.now() < current.renewAt) return current.token;
      const entry = { token: Promise.resolve(''), renewAt: Number.POSITIVE_INFINITY };
      const answer = client.loginWithAppRole(roleId, secretId, options.appRole?.mount) as PromiseLike<{ client_token: string; lease_duration: number }>;
      entry.token = Promise.resolve(answer).then(
        (auth) => {
          // log in again at 80% of the lease
          entry.renewAt = clock.now() + auth.lease_duration * 800;
          return auth.client_token;
        },
        (error: { response?: { status?: number } }) => {
          if (current === entry) current = undefined;
          // never pass the client's error on: it holds the request, with the secret id
          const details = { kind: 'vault', endpoint: first.address, operation: 'login' };
          if (!error.response) throw new KmsUnavailableError('Vault AppRole login got no answer', { details });
          throw new KmsPermissionError(`Vault AppRole login refused (${String(error.response.status)})`, { details });
        },
      );
      current = entry;
      return entry.token;
    };
  }
  let fromFile: Promise<string> | undefined;
  return () =>
    (fromFile ??= readFile(join(homedir(), '.vault-token'), 'utf8').then(
      (t) => t.trim(),
      () => {
        fromFile = undefined;
        throw new KmsError('CONFIG_INVALID', 'no Vault token: set VAULT_TOKEN, VAULT_ROLE_ID and VAULT_SECRET_ID, or log in with the vault CLI');
      },
    ));
}
