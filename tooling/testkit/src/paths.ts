// SPDX-License-Identifier: Apache-2.0
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of the shared binary test vectors: `ECPS_VECTORS_DIR` if set, else `shared/vectors/<system>`
 * beside the repository (where CI places it) or inside it.
 */
export function vectorsDir(system: 'ecps' | 'sw4rm' | 'peat' | 'codex' = 'ecps'): string {
  if (process.env['ECPS_VECTORS_DIR']) return join(process.env['ECPS_VECTORS_DIR'], system);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    for (const candidate of [join(dir, 'shared', 'vectors', system), join(dir, '..', 'shared', 'vectors', system)]) {
      if (existsSync(candidate)) return resolve(candidate);
    }
    dir = dirname(dir);
  }
  throw new Error('shared/vectors not found: set ECPS_VECTORS_DIR');
}
