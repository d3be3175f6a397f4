// SPDX-License-Identifier: Apache-2.0
// Document keys: each (collection, id) is stored under `<collection>:<id>`; the key splits at the first `:`.
import { PeatError } from './errors';

/** `<collection>:<id>`. @throws PeatError `INVALID_ARGUMENT` for an empty collection or one containing `:`. */
export function docKey(collection: string, id: string): string {
  if (collection.length === 0 || collection.includes(':')) {
    throw new PeatError('INVALID_ARGUMENT', `collection name ${JSON.stringify(collection)} must be non-empty and contain no ':'`);
  }
  if (id.length === 0) throw new PeatError('INVALID_ARGUMENT', `empty document id in ${collection}`);
  return `${collection}:${id}`;
}

/** Splits at the first `:`, so ids may contain `:`. @throws PeatError `INVALID_ARGUMENT` without a `:`. */
export function splitDocKey(key: string): { collection: string; id: string } {
  const at = key.indexOf(':');
  if (at <= 0 || at === key.length - 1) throw new PeatError('INVALID_ARGUMENT', `malformed doc key ${JSON.stringify(key)}`);
  return { collection: key.slice(0, at), id: key.slice(at + 1) };
}
