// SPDX-License-Identifier: Apache-2.0
// The persistent outgoing store is durable: a packet is reported stored only after its file and the directory entry
// were fsynced (checked by the order of the file-system calls, since a power cut cannot be simulated here), and
// what a crash left half-written is cleaned up when the store is opened again.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { DurableFs } from '@ecps/core/internal';
import type { Packet } from 'mqtt';
import { FileStore } from '../src';

const packet = (messageId: number): Packet => ({ cmd: 'publish', topic: 'eap', payload: Buffer.from([messageId]), qos: 1, dup: false, retain: false, messageId });

describe('FileStore durability', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ecps-filestore-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a packet stored only after the file and the directory were fsynced', async () => {
    const calls: string[] = [];
    const name = (p: string) => (p === dir ? '<dir>' : basename(p).replace(/^\d+-/, '').replace(/\.\d+\.\d+\.tmp$/, '.<tmp>'));
    const recording: DurableFs = {
      async open(path, flags, mode) {
        const handle = await fs.open(path, flags, mode);
        return {
          writeFile: (data) => handle.writeFile(data),
          sync: async () => (calls.push(`sync ${name(path)}`), handle.sync()),
          close: () => handle.close(),
        };
      },
      rename: async (from, to) => (calls.push(`rename ${name(from)} ${name(to)}`), fs.rename(from, to)),
      rm: (path, options) => fs.rm(path, options),
    };
    const store = new FileStore(dir, undefined, { fs: recording });
    await new Promise<void>((resolve, reject) => store.put(packet(5), (e) => (e ? reject(e) : (calls.push('stored'), resolve()))));
    expect(calls).toEqual(['sync 5.pkt.<tmp>', 'rename 5.pkt.<tmp> 5.pkt', 'sync <dir>', 'stored']);
  });

  it('removes temporary files a crash left behind and loads the complete packets', async () => {
    const first = new FileStore(dir);
    await new Promise<void>((resolve, reject) => first.put(packet(7), (e) => (e ? reject(e) : resolve())));
    writeFileSync(join(dir, '000000000002-8.pkt.4242.1.tmp'), '{"cmd":"publ'); // torn by a crash
    writeFileSync(join(dir, '000000000003-9.pkt.tmp'), '{}'); // the older naming
    const second = new FileStore(dir);
    expect(second.size).toBe(1);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
