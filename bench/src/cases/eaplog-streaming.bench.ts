// SPDX-License-Identifier: Apache-2.0
// A 2 GiB action log, validated streamed (structure, CRC of every record, one record in memory at a time) against a
// bare sequential read of the same file with a CRC-32 over each 1 MiB chunk: throughput, and peak resident memory of
// a process doing each (both must stay flat however large the log; reading it whole would need 2 GiB).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { encodeEaplog, validateEaplog } from '@ecps/eaplog';
import { EAP } from '@ecps/proto';
import type { BenchCase } from '../harness';

const MIB = 1024 * 1024;
const LOG_MIB = 2048;
const here = dirname(fileURLToPath(import.meta.url));
let dir = '';
let path = '';

/** A 2 GiB native log: a header, then the same 1 MiB block of ~1 KiB EAP actions repeated. */
async function writeLog(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'eaplog-stream-bench-'));
  path = join(dir, 'big.eaplog');
  const action = (i: number): Uint8Array =>
    EAP.encode({
      spec: 'eap/0.1',
      id: `action-${i}`,
      stateSha: new Uint8Array(32).fill(i & 0xff),
      body: { $case: 'cloud', value: { apiName: 'store', methodName: 'put', jsonPayload: new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(900) })), requiresOauth2: false } },
      meta: {},
    }).finish();
  const header = await encodeEaplog([], { createdAt: 1 });
  const block = (await encodeEaplog(Array.from({ length: 1000 }, (_, i) => action(i)), { createdAt: 1 })).subarray(header.length);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    for (let written = 0; written < LOG_MIB * MIB; written += block.length) writeSync(fd, block);
  } finally {
    closeSync(fd);
  }
}

async function removeLog(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
}

const mibPerSecond = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000);

async function rawRead(): Promise<number> {
  const start = performance.now();
  const handle = await open(path, 'r');
  const buffer = new Uint8Array(MIB);
  let position = 0;
  let crc = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    crc = crc32(buffer.subarray(0, bytesRead), crc);
    position += bytesRead;
  }
  await handle.close();
  return mibPerSecond(position, performance.now() - start);
}

function peakRssMib(mode: 'ours' | 'raw'): number {
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(here, '..', 'eaplog-memory-child.ts'), mode, path], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`memory child failed: ${child.stderr}`);
  return Number(child.stdout.trim()) / 1024;
}

const throughput: BenchCase = {
  name: 'eaplog validate a 2 GiB log, streamed (validateEaplog vs raw sequential read + CRC-32)',
  unit: 'MiB/s',
  higherIsBetter: true,
  repetitions: 3,
  setup: writeLog,
  teardown: removeLog,
  async ours() {
    const start = performance.now();
    const report = await validateEaplog(path);
    if (!report.valid) throw new Error(`bench log invalid: ${report.errors[0]?.reason}`);
    return mibPerSecond(statSync(path).size, performance.now() - start);
  },
  baseline: rawRead,
};

const memory: BenchCase = {
  name: 'eaplog validate a 2 GiB log: peak RSS of the process (validateEaplog vs raw sequential read)',
  unit: 'MiB',
  higherIsBetter: false,
  repetitions: 3,
  setup: writeLog,
  teardown: removeLog,
  ours: async () => peakRssMib('ours'),
  baseline: async () => peakRssMib('raw'),
};

export default [throughput, memory];
