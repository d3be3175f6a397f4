// SPDX-License-Identifier: Apache-2.0
// Loads the native binding (native/ecps_dds.c, built on install by scripts/build-native.mjs) and says precisely what
// is missing when it cannot: the package installs everywhere, and only using it needs Cyclone DDS.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TransportError } from '@ecps/core';

/** An opaque native handle object (a participant or a reader): keep it, pass it back, never inspect it. */
export interface NativeObject {
  readonly __native: unique symbol;
}

/** Entity QoS as the binding takes it; absent fields keep Cyclone's defaults. */
export interface NativeQos {
  /** 0 BEST_EFFORT, 1 RELIABLE. */
  reliability?: 0 | 1;
  /** How long a reliable write may block on a full history (default 0: return at once). */
  maxBlockingMs?: number;
  /** 0 VOLATILE, 1 TRANSIENT_LOCAL, 2 TRANSIENT, 3 PERSISTENT. */
  durability?: 0 | 1 | 2 | 3;
  /** KEEP_LAST depth, or -1 for KEEP_ALL. */
  historyDepth?: number;
  maxSamples?: number;
  maxInstances?: number;
  maxSamplesPerInstance?: number;
  /** KEEP_LAST depth kept for late joiners by a TRANSIENT_LOCAL writer (-1 KEEP_ALL). */
  durabilityServiceDepth?: number;
  durabilityServiceMaxSamples?: number;
  lifespanMs?: number;
  /** 0 none, 1 participant, 2 process. */
  ignoreLocal?: 0 | 1 | 2;
  partitions?: readonly string[];
  userData?: Uint8Array;
}

/** Sample types compiled into the binding by idlc. */
export const SAMPLE_TYPES = { envelope: 0, keyedSeq: 1 } as const;
export type SampleTypeId = (typeof SAMPLE_TYPES)[keyof typeof SAMPLE_TYPES];

/** Events the binding relays from Cyclone's listener threads: (entity handle, kind, value). */
export const NATIVE_EVENTS = { data: 1, requestedIncompatibleQos: 2, offeredIncompatibleQos: 3, sampleLost: 4 } as const;

/** Returned by `write` when a reliable writer's history is full: the sample was not written. */
export const DDS_RETCODE_TIMEOUT = -10;

/** The functions of native/ecps_dds.c (see there for the exact contracts). */
export interface NativeBinding {
  version(): string;
  /** Where Cyclone's log lines go (priority is a DDS_LC_* mask); `null` silences them (the default). */
  setLogSink(sink: ((priority: number, text: string) => void) | null): void;
  createDomain(domainId: number, configXml: string): number;
  createParticipant(domainId: number, qos: NativeQos, onEvent: (handle: number, kind: number, value: number) => void): NativeObject;
  participantHandle(participant: NativeObject): number;
  deleteParticipant(participant: NativeObject): void;
  createTopic(participantHandle: number, name: string, type: SampleTypeId, qos: NativeQos): number;
  createPublisher(participantHandle: number, qos: NativeQos): number;
  createSubscriber(participantHandle: number, qos: NativeQos): number;
  createWriter(participant: NativeObject, parent: number, topic: number, qos: NativeQos): number;
  deleteEntity(handle: number): void;
  write(writer: number, type: SampleTypeId, cdr: Uint8Array, sourceTimestampNs?: bigint): number;
  /**
   * Writes samples `ends[i-1]..ends[i]` of `samples` (first <= i < count, sample 0 from byte 0) in order, at most
   * `max`, stopping at the first one a full writer history refuses; returns how many were written.
   */
  writeBatch(writer: number, type: SampleTypeId, samples: Uint8Array, ends: Uint32Array, count: number, max: number, first?: number): number;
  flush(writer: number): void;
  setWriteBatch(enabled: boolean): void;
  waitForAcks(writer: number, timeoutMs: number): boolean;
  /** dds_wait_for_acks on a worker thread (at most 100 ms); `done(true)` once everything is acknowledged. */
  waitForAcksAsync(writer: number, timeoutMs: number, done: (acknowledged: boolean) => void): void;
  createReader(participant: NativeObject, parent: number, topic: number, qos: NativeQos): NativeObject;
  readerHandle(reader: NativeObject): number;
  deleteReader(reader: NativeObject): void;
  take(reader: NativeObject, max: number, scratch?: Buffer): Buffer | null;
  readerStatus(reader: NativeObject): [matched: number, lost: number, rejected: number];
  writerMatched(writer: number): number;
  entityGuid(handle: number): Buffer;
  publicationParticipant(reader: NativeObject, publicationHandle: bigint): Buffer | null;
  createPublicationReader(participant: NativeObject): NativeObject;
  takePublications(reader: NativeObject): Array<[topicName: string, typeName: string, reliability: 0 | 1, durability: number, historyDepth: number]>;
}

const INSTALL_HINT =
  'install Cyclone DDS 0.10 (Debian/Ubuntu: apt-get install libddsc0debian cyclonedds-dev cyclonedds-tools) and a C ' +
  'compiler with make and python3, then rebuild the binding: pnpm rebuild @ecps/transport-dds (or npm rebuild)';

/** build/ of this package (src/ and dist/ are both one level down); undefined where bundled without import.meta. */
function buildDir(): string | undefined {
  const here = import.meta.url as string | undefined;
  return here ? fileURLToPath(new URL('../build/', here)) : undefined;
}

let loaded: { path: string; binding: NativeBinding } | undefined;

/** Why the install-time build did not produce the binding, as scripts/build-native.mjs recorded it. */
function recordedBuildProblem(): string | undefined {
  const dir = buildDir();
  if (dir === undefined || !existsSync(`${dir}ecps-dds-status.json`)) return undefined;
  try {
    const status = JSON.parse(readFileSync(`${dir}ecps-dds-status.json`, 'utf8')) as { built?: boolean; reason?: string };
    return status.built ? undefined : status.reason;
  } catch {
    return undefined;
  }
}

/**
 * The native binding: `explicitPath`, else `ECPS_DDS_BINDING`, else this package's build/Release/ecps_dds.node.
 * @throws TransportError `TRANSPORT_UNAVAILABLE` naming what to install when it is not built or libddsc is missing.
 */
export function loadBinding(explicitPath?: string): NativeBinding {
  const dir = buildDir();
  const path = explicitPath ?? process.env['ECPS_DDS_BINDING'] ?? (dir === undefined ? '' : `${dir}Release/ecps_dds.node`);
  if (loaded?.path === path) return loaded.binding;
  if (path === '' || !existsSync(path)) {
    const problem = recordedBuildProblem();
    throw new TransportError(
      'TRANSPORT_UNAVAILABLE',
      `the Cyclone DDS binding is not built${problem ? ` (${problem})` : ''}: ${INSTALL_HINT}`,
      { details: { binding: path, ...(problem ? { buildProblem: problem } : {}) } },
    );
  }
  let binding: NativeBinding;
  try {
    binding = createRequire(path)(path) as NativeBinding;
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const missingLibrary = /libddsc[^:\s]*/.exec(message)?.[0];
    throw new TransportError(
      'TRANSPORT_UNAVAILABLE',
      missingLibrary
        ? `the Cyclone DDS library ${missingLibrary} is not installed: ${INSTALL_HINT}`
        : `the Cyclone DDS binding cannot be loaded (${message}): ${INSTALL_HINT}`,
      { cause, details: { binding: path } },
    );
  }
  loaded = { path, binding };
  return binding;
}

/** Whether the binding loads here, with Cyclone's version, or the reason it does not. Never throws. */
export function ddsBindingStatus(): { available: true; version: string } | { available: false; reason: string } {
  try {
    return { available: true, version: loadBinding().version() };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
