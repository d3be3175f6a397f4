// SPDX-License-Identifier: Apache-2.0
// Builds the C interop peer the way a C user would: idlc on the package's envelope IDL, then cc against libddsc.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../..', import.meta.url));

export interface BuiltProgram {
  readonly path: string;
  /** Removes the build directory. */
  remove(): void;
}

/** Compiles test/interop/<name>.c with idlc's C output for native/<idl>.idl; throws with the compiler's output. */
export function buildCProgram(name: string, idl: string): BuiltProgram {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-dds-c-'));
  try {
    execFileSync('idlc', ['-o', dir, join(packageDir, 'native', `${idl}.idl`)], { stdio: 'pipe' });
    const path = join(dir, name);
    execFileSync('cc', ['-O2', '-o', path, join(packageDir, 'test', 'interop', `${name}.c`), join(dir, `${idl}.c`), '-I', dir, '-lddsc'], { stdio: 'pipe' });
    return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const output = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`cannot build ${name}: ${String(error)}\n${output}`);
  }
}
