// SPDX-License-Identifier: Apache-2.0
// Damage is never a torn tail: a torn tail is only a final partial record. Everything else is corruption with its
// offset, so no reader, validator or appender loses a record without saying where.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { EaplogWriter, LocalKeyFileProvider, decodeMessages, encodeEaplog, parseEaplog, pyObject, validateBytes } from './index';
import type { LogFormatOptions, ParsedEaplog } from './index';

/** XORs one byte in place. */
const flip = (bytes: Uint8Array, at: number, mask: number): void => {
  bytes[at] = (bytes[at] as number) ^ mask;
};

const dir = mkdtempSync(join(tmpdir(), 'eaplog-damage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keys = new LocalKeyFileProvider({
  aes: { algorithm: 'aes-256-gcm', key: new Uint8Array(32).fill(7) },
  sig: { algorithm: 'ed25519', key: new Uint8Array(32).fill(9) },
});
const messages = (n: number, size = 40): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => Uint8Array.from({ length: size + (i % 7) }, (_, j) => (i * 31 + j * 7 + 1) & 0xff));
const pinned = { createdAt: 1750000000, robotId: 'robot-1', sessionId: 'sess-1', metadata: pyObject([['k', 'v']]) };

interface Outcome {
  /** Messages read (undefined when reading threw). */
  data?: Uint8Array[];
  /** The first reported finding: corruption, torn tail or a thrown LOG_CORRUPT, with its offset. */
  finding?: { kind: 'corrupt' | 'torn'; offset: number };
}

/** Reads bytes the way every command does; a thrown error must be typed and name an offset. */
async function outcome(bytes: Uint8Array, options: { keyProvider?: LocalKeyFileProvider } = {}): Promise<Outcome> {
  let parsed: ParsedEaplog;
  try {
    parsed = parseEaplog(bytes);
  } catch (error) {
    if (!isEcpsError(error, 'LOG_CORRUPT')) throw error;
    expect(typeof error.details.offset).toBe('number');
    return { finding: { kind: 'corrupt', offset: error.details.offset as number } };
  }
  const first = parsed.corruptions[0];
  const finding = first
    ? { kind: 'corrupt' as const, offset: first.offset }
    : parsed.tornTail
      ? { kind: 'torn' as const, offset: parsed.tornTail.offset }
      : undefined;
  let data: Uint8Array[] | undefined;
  try {
    data = (await decodeMessages(parsed, options)).map((m) => m.data);
  } catch (error) {
    if (!isEcpsError(error)) throw error;
  }
  return { ...(data ? { data } : {}), ...(finding ? { finding } : {}) };
}

/** Offsets where each data record starts in an intact log. */
function recordOffsets(bytes: Uint8Array): number[] {
  return parseEaplog(bytes).records.filter((r) => r.kind === 'data').map((r) => r.offset);
}

describe('a corrupted length in the middle of a native log', () => {
  it('is corruption at its offset, not a torn tail: validate fails, append refuses and the file is untouched', async () => {
    const msgs = messages(20);
    const full = await encodeEaplog(msgs, pinned);
    const at = recordOffsets(full)[10] as number;
    const damaged = full.slice();
    flip(damaged, at + 2, 0x01); // the length now runs 64 KiB past the end of the file
    const parsed = parseEaplog(damaged);
    expect(parsed.tornTail).toBeUndefined();
    expect(parsed.corruptions[0]).toMatchObject({ offset: at });
    const report = await validateBytes(damaged);
    expect(report.exitCode).toBe(1);
    expect(report.errors[0]).toMatchObject({ offset: at });

    const path = join(dir, 'mid-length.eaplog');
    writeFileSync(path, damaged);
    await expect(EaplogWriter.open(path)).rejects.toMatchObject({ code: 'LOG_CORRUPT', details: { offset: at } });
    expect(Buffer.compare(readFileSync(path), Buffer.from(damaged))).toBe(0);
  });

  it('a damaged length or CRC of the last record is corruption too', async () => {
    const full = await encodeEaplog(messages(5), pinned);
    const last = recordOffsets(full)[4] as number;
    for (const at of [last + 1, last + 9, full.length - 2]) {
      const damaged = full.slice();
      flip(damaged, at, 0x04);
      const report = await validateBytes(damaged);
      expect({ at, exitCode: report.exitCode }).toEqual({ at, exitCode: 1 });
      expect(report.errors[0]).toMatchObject({ offset: last });
    }
  });

  it('with move-aside, append keeps the unreadable tail in a side file and says so', async () => {
    const msgs = messages(8);
    const full = await encodeEaplog(msgs, pinned);
    const at = recordOffsets(full)[3] as number;
    const damaged = full.slice();
    flip(damaged, at + 3, 0x10);
    const path = join(dir, 'move-aside.eaplog');
    writeFileSync(path, damaged);
    const writer = await EaplogWriter.open(path, { recover: 'move-aside' });
    expect(writer.recovered).toMatchObject({ offset: at, bytes: damaged.length - at, sideFile: `${path}.damaged-${at}` });
    await writer.append(msgs[3] as Uint8Array);
    await writer.close();
    expect(new Uint8Array(readFileSync(`${path}.damaged-${at}`))).toEqual(damaged.subarray(at));
    const after = parseEaplog(new Uint8Array(readFileSync(path)));
    expect((await decodeMessages(after)).map((m) => m.data)).toEqual(msgs.slice(0, 4));
  });
});

const natives: [string, LogFormatOptions][] = [
  ['plain', {}],
  ['deflate', { compression: 'deflate' }],
  ['encrypted + signed', { encryption: { provider: keys, keyId: 'aes' }, signing: { provider: keys, keyId: 'sig', checkpointInterval: 2 } }],
];

describe('property: a single changed byte of a native log yields the same records or an error naming the offset', () => {
  it.each(natives)('%s: every byte, its low, middle and high bit', async (_name, options) => {
    const msgs = messages(5, 24);
    const full = await encodeEaplog(msgs, { ...pinned, ...options });
    const starts = recordOffsets(full);
    for (let pos = 0; pos < full.length; pos++) {
      for (const bit of [0, 4, 7]) {
        const damaged = full.slice();
        flip(damaged, pos, 1 << bit);
        const got = await outcome(damaged, { keyProvider: keys });
        const same = got.data !== undefined && got.data.length === msgs.length && got.data.every((m, i) => Buffer.compare(m, msgs[i] as Uint8Array) === 0);
        if (same && got.finding === undefined) continue;
        // fewer or different records: there must be corruption (never just a torn tail), at or before the first loss
        const lost = got.data ? got.data.findIndex((m, i) => Buffer.compare(m, msgs[i] as Uint8Array) !== 0) : 0;
        const firstLost = lost === -1 ? (got.data?.length ?? 0) : lost;
        const lostAt = firstLost < starts.length ? (starts[firstLost] as number) : full.length;
        if (got.finding?.kind !== 'corrupt' || got.finding.offset > lostAt) {
          throw new Error(`byte ${pos} bit ${bit}: ${got.data?.length} records, finding ${JSON.stringify(got.finding)} (first loss at ${lostAt})`);
        }
        const report = await validateBytes(damaged);
        if (report.exitCode !== 1) throw new Error(`byte ${pos} bit ${bit}: validate exit ${report.exitCode}`);
      }
    }
  }, 60_000);
});

describe('property: truncating at any offset yields the records before the cut and names where it stopped', () => {
  const formats: [string, LogFormatOptions][] = [
    ...natives,
    ['compat 2.1', { mode: 'compat', version: '2.1' }],
    ['compat 1.0', { mode: 'compat', version: '1.0' }],
  ];
  it.each(formats)('%s', async (_name, options) => {
    const msgs = messages(5, 30);
    const full = await encodeEaplog(msgs, { ...pinned, ...options });
    const whole = parseEaplog(full);
    const trailer = whole.layout === 'ecps-v2' ? 4 : 0;
    const ends = whole.records.map((r) => r.offset + 4 + r.body.length + trailer);
    const dataEnds = whole.records.filter((r) => r.kind === 'data').map((r) => r.offset + 4 + r.body.length + trailer);
    for (let cut = 0; cut < full.length; cut++) {
      const got = await outcome(full.subarray(0, cut), { keyProvider: keys });
      const complete = dataEnds.filter((e) => e <= cut).length;
      expect({ cut, n: got.data?.length ?? 0 }).toEqual({ cut, n: complete });
      const boundary = cut === whole.dataOffset || ends.includes(cut);
      if (!boundary && cut > 0) {
        // the first byte not read is where the finding points
        const readUpTo = Math.max(cut >= whole.dataOffset ? whole.dataOffset : 0, ...ends.filter((e) => e <= cut));
        expect({ cut, finding: got.finding }).toEqual({ cut, finding: { kind: 'torn', offset: readUpTo } });
      }
    }
  }, 60_000);
});

describe('a damaged native header never falls back to the legacy layout', () => {
  it('each single-byte change of the header of a 1,000-record log is LOG_CORRUPT or reported corruption', async () => {
    const msgs = messages(1000, 20);
    const full = await encodeEaplog(msgs, pinned);
    const { dataOffset } = parseEaplog(full);
    let fellBack = 0;
    let silent = 0;
    for (let pos = 0; pos < dataOffset; pos++) {
      for (const xor of [0x01, 0x20, 0x80]) {
        const damaged = full.slice();
        flip(damaged, pos, xor);
        const got = await outcome(damaged);
        try {
          if (parseEaplog(damaged).layout === 'v1.0') fellBack++;
        } catch {
          // thrown LOG_CORRUPT: checked by outcome()
        }
        if (got.finding?.kind !== 'corrupt' || got.finding.offset !== 0) silent++;
        else if (got.data !== undefined) expect(got.data).toHaveLength(1000);
        if ((await validateBytes(damaged)).exitCode !== 1) silent++;
      }
    }
    expect({ fellBack, silent }).toEqual({ fellBack: 0, silent: 0 });
  }, 60_000);
});

describe('files that are not action logs', () => {
  it('empty, random and cut-off-header files are invalid and say why', async () => {
    const header = await encodeEaplog([], { ...pinned, mode: 'compat', version: '2.1' });
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['random', Uint8Array.from({ length: 600 }, (_, i) => (i * 167 + 13) & 0xff)],
      ['text', new TextEncoder().encode('hello, this is not a log\n')],
      ['cut-off header', header.subarray(0, 100)],
    ];
    for (const [name, bytes] of cases) {
      const report = await validateBytes(bytes);
      expect({ name, exitCode: report.exitCode }).toEqual({ name, exitCode: 1 });
      expect(report.errors[0]?.reason).toMatch(/not an action log|empty|header/i);
    }
  });
});
