// SPDX-License-Identifier: Apache-2.0
// A persistent mqtt.js outgoing store: one file per unacknowledged QoS 1/2 packet, so a restarted process resends
// what the broker never acknowledged. Writes are serialised so callbacks (and thus sends) keep publish order, and
// durable (file and directory fsynced) before mqtt.js is told the packet is stored.
import { mkdirSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { silentLogger, type Logger } from '@ecps/core';
import { DURABLE_TEMP_SUFFIX, writeFileDurable, type DurableFs } from '@ecps/core/internal';
import type { IStore, Packet } from 'mqtt';

interface Entry {
  seq: number;
  file: string;
  packet: Packet;
}

type Done = (error?: Error) => void;
type PacketDone = (error?: Error, packet?: Packet) => void;

// Buffers are stored as base64 under a marker key; everything else in a packet is plain JSON.
const B64 = '$b64';
function replacer(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { [B64]: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}
function reviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && typeof (value as Record<string, unknown>)[B64] === 'string') {
    return Buffer.from((value as Record<string, string>)[B64]!, 'base64');
  }
  return value;
}
function serialise(packet: Packet): string {
  // Buffer#toJSON would spell every byte as a number: swap buffers for base64 before stringifying.
  const copy: Record<string, unknown> = { ...packet };
  if (Buffer.isBuffer(copy['payload'])) copy['payload'] = { [B64]: (copy['payload'] as Buffer).toString('base64') };
  return JSON.stringify(copy, replacer);
}

export interface FileStoreOptions {
  /** The file-system calls of the durable writes (default `node:fs/promises`); for tests that check their order. */
  fs?: DurableFs;
}

/**
 * An mqtt.js `IStore` kept in a directory. Loads what a previous process left; `close` keeps the files.
 * A stored packet survives a crash of the process and a power loss: `put` reports success only once the file and
 * the directory entry are fsynced. Removals (at acknowledgement) are not synced: after a power loss an
 * acknowledged packet may be sent again, which QoS 1 allows. Temporary files a crash left behind are removed on open.
 */
export class FileStore implements IStore {
  private readonly entries = new Map<number, Entry>();
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly fs: DurableFs | undefined;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger = silentLogger,
    options: FileStoreOptions = {},
  ) {
    this.fs = options.fs;
    mkdirSync(dir, { recursive: true });
    const names = readdirSync(dir);
    for (const leftover of names.filter((f) => f.endsWith(DURABLE_TEMP_SUFFIX))) {
      // a write a crash interrupted: its packet was never reported stored, so mqtt.js never counted on it
      unlinkSync(join(dir, leftover));
      this.logger.info('mqtt file store: removed an unfinished write', { file: leftover });
    }
    const files = names.filter((f) => f.endsWith('.pkt')).sort();
    for (const file of files) {
      try {
        const packet = JSON.parse(readFileSync(join(dir, file), 'utf8'), reviver) as Packet;
        const seq = Number(file.slice(0, 12));
        const id = (packet as { messageId?: number }).messageId ?? -1;
        const previous = this.entries.get(id);
        if (previous) this.enqueue(() => unlink(join(dir, previous.file)).catch(() => undefined));
        this.entries.set(id, { seq, file, packet });
        this.seq = Math.max(this.seq, seq);
      } catch (error) {
        this.logger.warn('mqtt file store: skipping an unreadable packet file', { file, error: String(error) });
      }
    }
  }

  /** Packets currently held (unacknowledged). */
  get size(): number {
    return this.entries.size;
  }

  put(packet: Packet, cb: Done): this {
    const id = (packet as { messageId?: number }).messageId ?? -1;
    const seq = ++this.seq;
    const file = `${String(seq).padStart(12, '0')}-${id}.pkt`;
    const previous = this.entries.get(id);
    this.entries.delete(id); // re-insert so iteration order follows the latest put
    this.entries.set(id, { seq, file, packet });
    const text = serialise(packet);
    const path = join(this.dir, file);
    this.enqueue(async () => {
      await writeFileDurable(path, text, this.fs ? { fs: this.fs } : {});
      if (previous) await unlink(join(this.dir, previous.file)).catch(() => undefined);
    }, cb);
    return this;
  }

  del(packet: Pick<Packet, 'messageId'>, cb: PacketDone): this {
    const id = packet.messageId ?? -1;
    const entry = this.entries.get(id);
    if (!entry) {
      cb(new Error('missing packet'));
      return this;
    }
    this.entries.delete(id);
    this.enqueue(() => unlink(join(this.dir, entry.file)).catch(() => undefined));
    cb(undefined, entry.packet);
    return this;
  }

  get(packet: Pick<Packet, 'messageId'>, cb: PacketDone): this {
    const entry = this.entries.get(packet.messageId ?? -1);
    if (entry) cb(undefined, entry.packet);
    else cb(new Error('missing packet'));
    return this;
  }

  createStream(): ReturnType<IStore['createStream']> {
    const packets = [...this.entries.values()].sort((x, y) => x.seq - y.seq).map((e) => e.packet);
    // mqtt.js types its streams with readable-stream; a Node Readable has the same surface at run time.
    return Readable.from(packets, { objectMode: true }) as unknown as ReturnType<IStore['createStream']>;
  }

  close(cb: Done): void {
    this.enqueue(async () => undefined, cb);
  }

  private enqueue(work: () => Promise<void>, cb?: Done): void {
    this.chain = this.chain.then(work).then(
      () => cb?.(),
      (error: Error) => {
        this.logger.error('mqtt file store: write failed', { dir: this.dir, error: String(error) });
        cb?.(error);
      },
    );
  }
}
