// SPDX-License-Identifier: Apache-2.0
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The binary interoperability vectors kept in this repository (`tooling/testkit/vectors/<system>`). */
export function vectorsDir(system: 'ecps' = 'ecps'): string {
  return resolve(join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', system));
}
