// SPDX-License-Identifier: Apache-2.0
// .eaplog durability cost: appends through EaplogWriter (native framing, CRC, group commit, fsync policy) against raw
// fs appends of the very same bytes with the same fsync policy; and reading a log back against a raw sequential read.
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EaplogWriter, readEaplog } from '@ecps/eaplog';
import type { FsyncPolicy } from '@ecps/eaplog';
import type { BenchCase } from '../harness';

// Created on first use and removed after every case, so a run that filters these cases out leaves nothing behind.
let dir: string | undefined;
let seq = 0;
const freshPath = (): string => join((dir ??= mkdtempSync(join(tmpdir(), 'eaplog-bench-'))), `bench-${seq++}.eaplog`);
async function removeDir(): Promise<void> {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

/** The bytes our writer puts on disk for one message: u32le(L) ‖ 0x01 ‖ message ‖ u32le(crc32(body)). */
function framed(message: Uint8Array): Uint8Array {
  const body = new Uint8Array(1 + message.length);
  body[0] = 1;
  body.set(message, 1);
  const out = new Uint8Array(8 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length, true);
  out.set(body, 4);
  view.setUint32(4 + body.length, crc32(body) >>> 0, true);
  return out;
}

const MEASURE_MS = 400;

/** Records per second appended one at a time (each awaited), for at least MEASURE_MS. */
async function oursAppend(message: Uint8Array, fsync: FsyncPolicy, inFlight = 1): Promise<number> {
  const writer = await EaplogWriter.create(freshPath(), { fsync });
  let records = 0;
  const start = performance.now();
  while (performance.now() - start < MEASURE_MS) {
    if (inFlight === 1) {
      // awaited directly, as the raw side awaits each write (a Promise.all per record charged ours alone)
      await writer.append(message);
    } else {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < inFlight; i++) batch.push(writer.append(message));
      await Promise.all(batch);
    }
    records += inFlight;
  }
  await writer.flush();
  const elapsed = performance.now() - start;
  await writer.close();
  return (records * 1000) / elapsed;
}

/** The same bytes with a bare FileHandle: write each record, fsync per the same policy. */
async function rawAppend(message: Uint8Array, fsync: FsyncPolicy): Promise<number> {
  const bytes = framed(message);
  const handle: FileHandle = await open(freshPath(), 'a');
  let dirty = false;
  let timer: NodeJS.Timeout | undefined;
  let records = 0;
  const start = performance.now();
  while (performance.now() - start < MEASURE_MS) {
    await handle.write(bytes);
    records++;
    if (fsync === 'always') await handle.datasync();
    else if (fsync !== 'never' && !timer) {
      dirty = true;
      timer = setTimeout(() => {
        timer = undefined;
        if (dirty) void handle.datasync();
        dirty = false;
      }, fsync.intervalMs);
    }
  }
  if (fsync !== 'never') await handle.datasync();
  const elapsed = performance.now() - start;
  if (timer) clearTimeout(timer);
  await handle.close();
  return (records * 1000) / elapsed;
}

const payload = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff);
const policies: [string, FsyncPolicy][] = [
  ['fsync never', 'never'],
  ['fsync every 5 ms', { intervalMs: 5 }],
  ['fsync each record', 'always'],
];

const appendCases: BenchCase[] = [100, 4096].flatMap((size) =>
  policies.map(([label, policy]) => ({
    name: `eaplog append ${size === 100 ? '100 B' : '4 KiB'} records, ${label} (EaplogWriter vs raw fs appends)`,
    unit: 'records/s',
    higherIsBetter: true,
    ...(policy === 'never' ? { target: 0.9 } : {}),
    ours: () => oursAppend(payload(size), policy),
    baseline: () => rawAppend(payload(size), policy),
  })),
);

// Group commit: 32 appends in flight share one write and one fsync; the raw side still fsyncs every record.
const groupCommit: BenchCase = {
  name: 'eaplog append 100 B records, fsync each record, 32 in flight (group commit vs raw fs appends)',
  unit: 'records/s',
  higherIsBetter: true,
  ours: () => oursAppend(payload(100), 'always', 32),
  baseline: () => rawAppend(payload(100), 'always'),
};

const READ_RECORDS = 20_000;
const readFiles = new Map<number, string>();

/** Reads per second of `read` (whole-log reads repeated for at least MEASURE_MS), as records per second. */
async function recordsReadPerSecond(read: () => Promise<number>): Promise<number> {
  let logs = 0;
  const start = performance.now();
  do {
    if ((await read()) !== READ_RECORDS) throw new Error('bench log is short');
    logs++;
  } while (performance.now() - start < MEASURE_MS);
  return (logs * READ_RECORDS * 1000) / (performance.now() - start);
}

/**
 * The least work a verified read of the same file needs: read it sequentially, walk the frames from the header on,
 * check each record's CRC-32 and take a view of its message. (A bare readFile never touches the bytes, so it left
 * the per-record checks the log exists for out of the comparison.)
 */
async function rawVerifiedRead(path: string): Promise<number> {
  const bytes = await readFile(path);
  let offset = 4 + bytes.readUInt32LE(0) + 4;
  const messages: Uint8Array[] = [];
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32LE(offset);
    const body = bytes.subarray(offset + 4, offset + 4 + length);
    if (crc32(body) >>> 0 !== bytes.readUInt32LE(offset + 4 + length)) throw new Error('corrupt bench log');
    messages.push(body.subarray(1));
    offset += 8 + length;
  }
  return messages.length;
}

const readCases: BenchCase[] = [100, 4096].map((size) => ({
  name: `eaplog read ${size === 100 ? '100 B' : '4 KiB'} records (readEaplog: parse + CRC + messages vs raw sequential read + frame walk + CRC)`,
  unit: 'records/s',
  higherIsBetter: true,
  target: size === 100 ? 0.5 : 0.8,
  async setup() {
    const path = freshPath();
    const writer = await EaplogWriter.create(path, { fsync: 'never' });
    const message = payload(size);
    for (let i = 0; i < READ_RECORDS; i += 500) await Promise.all(Array.from({ length: 500 }, () => writer.append(message)));
    await writer.close();
    readFiles.set(size, path);
  },
  ours: () => recordsReadPerSecond(async () => (await readEaplog(readFiles.get(size) as string)).messages.length),
  baseline: () => recordsReadPerSecond(() => rawVerifiedRead(readFiles.get(size) as string)),
}));

const cases: BenchCase[] = [...appendCases, groupCommit, ...readCases].map((c) => ({ ...c, teardown: removeDir }));

export default cases;
