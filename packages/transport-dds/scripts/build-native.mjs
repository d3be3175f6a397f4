#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Builds the native binding (binding.gyp: idlc output + native/ecps_dds.c, linked against libddsc) when the package is
// installed. It never fails the install: without Cyclone DDS or a C toolchain it records why in
// build/ecps-dds-status.json, and the package throws TRANSPORT_UNAVAILABLE (naming what to install) when used.
//   CYCLONEDDS_HOME=/opt/cyclonedds   use another Cyclone DDS installation (default /usr)
//   ECPS_DDS_SKIP_BUILD=1              do not build
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const home = process.env.CYCLONEDDS_HOME || '/usr';
const APT = 'apt-get install libddsc0debian cyclonedds-dev cyclonedds-tools';

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
}

function record(status) {
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(join(root, 'build', 'ecps-dds-status.json'), JSON.stringify({ ...status, cycloneddsHome: home, node: process.version }, null, 2) + '\n');
  console.log(status.built ? '@ecps/transport-dds: native binding built' : `@ecps/transport-dds: native binding not built (${status.reason}); the transport throws TRANSPORT_UNAVAILABLE until it is`);
}

/** What is missing to build here, or undefined when everything is. */
function missing() {
  if (process.platform === 'win32') return 'Windows is not supported by this build script';
  const libDirs = [join(home, 'lib'), join(home, 'lib', `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`)];
  const lacks = [];
  if (!existsSync(join(home, 'include', 'dds', 'dds.h'))) lacks.push(`Cyclone DDS headers (${home}/include/dds/dds.h; ${APT})`);
  if (!libDirs.some((d) => existsSync(join(d, 'libddsc.so')) || existsSync(join(d, 'libddsc.dylib')))) lacks.push(`libddsc (${APT})`);
  if (!existsSync(join(home, 'bin', 'idlc'))) lacks.push(`idlc (${home}/bin/idlc; ${APT})`);
  if (!(process.env.CC ? existsSync(process.env.CC) || onPath(process.env.CC) : onPath('cc'))) lacks.push('a C compiler (cc)');
  if (!onPath('make')) lacks.push('make');
  if (!onPath('python3')) lacks.push('python3 (for node-gyp)');
  return lacks.length > 0 ? `missing ${lacks.join(', ')}` : undefined;
}

/** node-gyp as npm and pnpm provide it to install scripts, else from PATH. */
function nodeGyp() {
  const fromManager = process.env.npm_config_node_gyp;
  if (fromManager && existsSync(fromManager)) return [process.execPath, fromManager];
  return onPath('node-gyp') ? ['node-gyp'] : undefined;
}

function main() {
  if (process.env.ECPS_DDS_SKIP_BUILD === '1') return record({ built: false, reason: 'ECPS_DDS_SKIP_BUILD=1' });
  const lacking = missing();
  if (lacking) return record({ built: false, reason: lacking });
  const gyp = nodeGyp();
  if (!gyp) return record({ built: false, reason: 'node-gyp not found (install it, or install through npm or pnpm)' });
  // Node's own headers when they are installed next to it (no download needed); else node-gyp fetches them.
  const nodeDir = dirname(dirname(process.execPath));
  const offline = existsSync(join(nodeDir, 'include', 'node', 'common.gypi')) ? [`--nodedir=${nodeDir}`] : [];
  const [command, ...args] = gyp;
  const result = spawnSync(command, [...args, 'rebuild', ...offline], { cwd: root, encoding: 'utf8', env: { ...process.env, CYCLONEDDS_HOME: home } });
  const log = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(join(root, 'build', 'ecps-dds-build.log'), log);
  if (result.status === 0 && existsSync(join(root, 'build', 'Release', 'ecps_dds.node'))) return record({ built: true });
  const lastError = log.split('\n').filter((l) => /error/i.test(l)).slice(-1)[0]?.trim();
  record({ built: false, reason: `node-gyp failed${lastError ? `: ${lastError}` : ''} (see build/ecps-dds-build.log)` });
}

try {
  main();
} catch (error) {
  try {
    record({ built: false, reason: `build script failed: ${error instanceof Error ? error.message : String(error)}` });
  } catch {
    // nothing more to do: the install must not fail
  }
}
process.exit(0);
