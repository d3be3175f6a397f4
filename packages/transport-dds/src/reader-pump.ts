// SPDX-License-Identifier: Apache-2.0
// Moves samples from one DDS reader to JavaScript without ever blocking the event loop: Cyclone's listener thread
// only raises a flag (one notification per burst); this side takes up to 256 samples per native call, yields to the
// event loop every few batches, and stops taking while its consumer is full. Samples then wait in the reader's
// bounded history, and for remote writers the reliable protocol holds the writer back.
//
// Writers in this process deliver to local readers synchronously inside dds_write, where a full reader simply loses
// the sample. So local writers look here first: a topic with a congested reader in this process makes them wait.
import { NATIVE_EVENTS, type NativeBinding, type NativeObject } from './native';
import { forEachSample } from './samples';

const TAKE_BATCH = 256;
/**
 * Takes whose samples fit here reuse it (no allocation per take); consumers copy what they keep. Sized for a full
 * take of 256 samples of up to about 2 KiB: a take that does not fit allocates a buffer of its own, which at 1 KiB
 * samples meant some 280 KiB of external memory per take for the garbage collector to chase.
 */
const scratch = Buffer.allocUnsafeSlow(512 * 1024);
/** A consumer may make room, and so drain another reader, while it still walks the scratch buffer. */
let scratchInUse = false;
/** Batches taken before yielding to the event loop. */
const BATCHES_PER_TURN = 8;

export interface PumpConsumer {
  /**
   * Handles one sample (`buf[start, end)`, sample info at `info`). `reused`: `buf` is overwritten after this
   * call, so nothing may keep a view of it.
   */
  sample(buf: Buffer, start: number, end: number, info: number, reused: boolean): void;
  /** How many more samples the consumer can take now (0: stop taking). */
  readonly room: number;
}

/** Reliable KEEP_ALL readers in this process, by DDS topic name: what local writers must not overrun. */
const localReaders = new Map<string, Set<ReaderPump>>();
/** Writers waiting for room on a topic, woken when one of its readers drains. */
const roomWaiters = new Map<string, Set<() => void>>();

/** The readers local writers to `ddsName` must respect; the same Set for the topic's whole life (cache it). */
export function localReadersOf(ddsName: string): Set<ReaderPump> {
  let set = localReaders.get(ddsName);
  if (!set) localReaders.set(ddsName, (set = new Set()));
  return set;
}

/** Calls `wake` whenever a reader of `ddsName` in this process makes room; returns the unsubscribe function. */
export function onRoom(ddsName: string, wake: () => void): () => void {
  let set = roomWaiters.get(ddsName);
  if (!set) roomWaiters.set(ddsName, (set = new Set()));
  set.add(wake);
  return () => {
    set.delete(wake);
    if (set.size === 0 && roomWaiters.get(ddsName) === set) roomWaiters.delete(ddsName);
  };
}

export class ReaderPump {
  /** Samples written by local writers that may still sit in this reader's history. */
  localSinceTake = 0;
  private paused = false;
  private scheduled = false;
  private stopped = false;

  /**
   * @param guardLocal whether local writers must wait for this reader (reliable and KEEP_ALL); its history holds
   *   `historyLimit` samples, and local writers stop at half of that, leaving the rest to remote writers.
   */
  constructor(
    private readonly binding: NativeBinding,
    readonly reader: NativeObject,
    readonly ddsName: string,
    private readonly consumer: PumpConsumer,
    private readonly historyLimit: number,
    guardLocal: boolean,
  ) {
    if (guardLocal) localReadersOf(ddsName).add(this);
  }

  /** True while local writers to this topic must wait. */
  get congested(): boolean {
    return this.paused || this.localSinceTake >= this.historyLimit >> 1;
  }

  /** How many more samples local writers may write to this reader's topic before it is congested. */
  get localRoom(): number {
    return this.paused ? 0 : Math.max(0, (this.historyLimit >> 1) - this.localSinceTake);
  }

  /** Relayed listener events: data available (others are the owner's to report). */
  onEvent(kind: number): void {
    if (kind === NATIVE_EVENTS.data && !this.scheduled) this.drain();
  }

  /** The consumer has room again. */
  resume(): void {
    if (!this.paused || this.stopped) return;
    this.paused = false;
    this.wakeWriters();
    this.drain();
  }

  stop(): void {
    this.stopped = true;
    const set = localReaders.get(this.ddsName);
    set?.delete(this);
    if (set?.size === 0) localReaders.delete(this.ddsName);
    this.wakeWriters();
  }

  private drain(): void {
    for (let batch = 0; !this.stopped; batch++) {
      const room = Math.min(TAKE_BATCH, this.consumer.room);
      if (room <= 0) {
        this.paused = true;
        return;
      }
      if (batch === BATCHES_PER_TURN) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.drain();
        });
        return;
      }
      const taken = this.takeOnce(room);
      if (this.localSinceTake > 0) {
        // what is left in the history may be local samples; an empty history surely holds none
        this.localSinceTake = taken < room ? 0 : Math.max(0, this.localSinceTake - taken);
        this.wakeWriters();
      }
      if (taken < room) return;
    }
  }

  /** Takes up to `max` samples and hands them to the consumer; returns how many were taken. */
  private takeOnce(max: number): number {
    const own = !scratchInUse;
    const buf = this.binding.take(this.reader, max, own ? scratch : undefined);
    if (buf === null) return 0;
    const reused = buf === scratch;
    if (reused) scratchInUse = true;
    try {
      return forEachSample(buf, (start, end, info) => this.consumer.sample(buf, start, end, info, reused));
    } finally {
      if (reused) scratchInUse = false;
    }
  }

  private wakeWriters(): void {
    const waiters = roomWaiters.get(this.ddsName);
    if (waiters) for (const wake of [...waiters]) wake();
  }
}
