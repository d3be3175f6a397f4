// SPDX-License-Identifier: Apache-2.0
// A ddsperf peer built on our binding (test utility): ddsperf's KeyedSeq type on its reliable topics
// DDSPerfRDataKS / DDSPerfRPingKS / DDSPerfRPongKS, with ddsperf's conventions as its sources define them:
// - data: KEEP_ALL, max_samples 10000, reliable; sequence numbers per writer and key, gaps are losses;
// - ping/pong: KEEP_LAST(1); a pong echoes the ping sample with the ping's source timestamp | 1, written in the
//   partition named after the pinging participant's GUID (ddsperf reads pongs only in its own GUID's partition);
// - a participant whose USER_DATA is "DDSPerf:<has data reader>:<pid>:<host>" is a ddsperf peer: ddsperf expects
//   pongs from it and checks within 5 s that its ping/pong readers and writers all match.
import { hostname } from 'node:os';
import { silentLogger } from '@ecps/core';
import { Participant } from '../../src/participant';
import { publicationHandle, sourceTimestamp } from '../../src/samples';
import { ReaderPump } from '../../src/reader-pump';
import { NATIVE_EVENTS, SAMPLE_TYPES, type NativeObject, type NativeQos } from '../../src/native';

const PING_PONG_QOS: NativeQos = { reliability: 1, maxBlockingMs: 10_000, historyDepth: 1 };
const DATA_QOS: NativeQos = { reliability: 1, maxBlockingMs: 10_000, historyDepth: -1, maxSamples: 10_000 };

/** KeyedSeq { u32 seq; @key u32 keyval; sequence<octet> baggage } as XCDR1 little-endian. */
export function encodeKeyedSeq(seq: number, keyval: number, baggage: Uint8Array): Uint8Array {
  const out = Buffer.alloc(16 + baggage.length);
  out.writeUInt32BE(0x00010000, 0);
  out.writeUInt32LE(seq >>> 0, 4);
  out.writeUInt32LE(keyval >>> 0, 8);
  out.writeUInt32LE(baggage.length, 12);
  out.set(baggage, 16);
  return out;
}

export function decodeKeyedSeq(buf: Buffer, start: number, end: number): { seq: number; keyval: number; size: number } {
  if (end - start < 16) throw new Error('short KeyedSeq sample');
  return { seq: buf.readUInt32LE(start + 4), keyval: buf.readUInt32LE(start + 8), size: buf.readUInt32LE(start + 12) };
}

/** ddsperf's partition name for a participant GUID: 4 groups of 4 bytes in hex, joined by `_`. */
export function guidPartition(guid: Uint8Array): string {
  const hex = Buffer.from(guid).toString('hex');
  return [0, 8, 16, 24].map((i) => hex.slice(i, i + 8)).join('_');
}

export interface DataStats {
  received: number;
  lost: number;
  writers: number;
}

export class DdsperfPeer {
  private readonly participant: Participant;
  private readonly entities: Array<{ reader: NativeObject; handle: number; pump: ReaderPump }> = [];
  private readonly pongWriters = new Map<string, number>();
  private readonly topics: { data: number; ping: number; pong: number };
  /** Pongs this peer sent. */
  pongs = 0;

  /** @param asDdsperf whether ddsperf should see this participant as one of its own (needed to be pinged). */
  constructor(domainId: number, asDdsperf: boolean) {
    this.participant = new Participant({
      domainId,
      logger: silentLogger,
      ...(asDdsperf ? { userData: new TextEncoder().encode(`DDSPerf:0:${process.pid}:${hostname()}`) } : {}),
    });
    this.topics = {
      data: this.participant.acquireTopic('DDSPerfRDataKS', SAMPLE_TYPES.keyedSeq),
      ping: this.participant.acquireTopic('DDSPerfRPingKS', SAMPLE_TYPES.keyedSeq),
      pong: this.participant.acquireTopic('DDSPerfRPongKS', SAMPLE_TYPES.keyedSeq),
    };
  }

  /** Answers every ping with a pong, the way ddsperf's own pong mode does; also has the endpoints ddsperf checks. */
  servePongs(): void {
    const binding = this.participant.binding;
    this.participant.createWriter(this.topics.ping, PING_PONG_QOS); // ddsperf checks that a peer has one
    const own = guidPartition(binding.entityGuid(this.participant.handle));
    const ownPongs = this.participant.createGroup('subscriber', [own]);
    this.read(this.topics.pong, PING_PONG_QOS, () => undefined, ownPongs);
    const ping = this.read(this.topics.ping, PING_PONG_QOS, (buf, start, end, info) => {
      const from = binding.publicationParticipant(ping, publicationHandle(buf, info));
      if (!from) return;
      const writer = this.pongWriter(guidPartition(from));
      binding.write(writer, SAMPLE_TYPES.keyedSeq, buf.subarray(start, end), sourceTimestamp(buf, info) | 1n);
      binding.flush(writer);
      this.pongs++;
    });
  }

  /** Reads DDSPerfRDataKS (what `ddsperf pub` writes) and counts samples and sequence gaps per writer and key. */
  readData(): DataStats {
    const stats: DataStats = { received: 0, lost: 0, writers: 0 };
    const next = new Map<string, number>();
    this.read(this.topics.data, DATA_QOS, (buf, start, end, info) => {
      const { seq, keyval } = decodeKeyedSeq(buf, start, end);
      const key = `${publicationHandle(buf, info)}/${keyval}`;
      const expected = next.get(key);
      if (expected === undefined) stats.writers++;
      else stats.lost += (seq - expected) >>> 0;
      next.set(key, (seq + 1) >>> 0);
      stats.received++;
    });
    return stats;
  }

  /** A writer on DDSPerfRDataKS: `write(seq, baggage)` returns false while its history is full (nothing written). */
  dataWriter(): { write(seq: number, baggage: Uint8Array): boolean; matched(): number; flush(): void } {
    const binding = this.participant.binding;
    const writer = this.participant.createWriter(this.topics.data, { ...DATA_QOS, maxBlockingMs: 0 });
    return {
      write: (seq, baggage) => binding.write(writer, SAMPLE_TYPES.keyedSeq, encodeKeyedSeq(seq, 0, baggage)) === 0,
      matched: () => binding.writerMatched(writer),
      flush: () => binding.flush(writer),
    };
  }

  close(): void {
    for (const { pump } of this.entities) pump.stop();
    this.participant.close();
  }

  private read(topic: number, qos: NativeQos, onSample: (buf: Buffer, start: number, end: number, info: number) => void, parent?: number): NativeObject {
    let pump: ReaderPump | undefined;
    const { reader, handle } = this.participant.createReader(topic, qos, (kind) => pump?.onEvent(kind), parent);
    pump = new ReaderPump(this.participant.binding, reader, `ddsperf:${handle}`, { sample: onSample, room: Number.POSITIVE_INFINITY }, 10_000, false);
    this.entities.push({ reader, handle, pump });
    pump.onEvent(NATIVE_EVENTS.data);
    return reader;
  }

  private pongWriter(partition: string): number {
    let writer = this.pongWriters.get(partition);
    if (writer === undefined) {
      const publisher = this.participant.createGroup('publisher', [partition]);
      writer = this.participant.createWriter(this.topics.pong, PING_PONG_QOS, undefined, publisher);
      this.pongWriters.set(partition, writer);
    }
    return writer;
  }
}
