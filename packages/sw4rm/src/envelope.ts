// SPDX-License-Identifier: Apache-2.0
// Envelope builder with the spec's defaults (§3.5) and the three-id model.
import type { Clock, RandomSource } from '@ecps/core';
import { cryptoRandom, systemClock, uuidv4 } from '@ecps/core';
import { CONTENT_TYPES } from './content-types';
import { EnvelopeState } from './gen/common';
import type { Envelope , MessageType } from './gen/common';
import { HybridLogicalClock } from './hlc';
import type { Int64Like } from './int64';
import { toUint64 } from './int64';
import { timestampFromMs } from './timestamp';

/** What a caller may set when building an envelope; everything else gets the spec default. */
export interface EnvelopeInit {
  producerId: string;
  messageType: MessageType;
  payload?: Uint8Array | string;
  contentType?: string;
  correlationId?: string;
  idempotencyToken?: string;
  parentCorrelationId?: string;
  repoId?: string;
  worktreeId?: string;
  sequenceNumber?: Int64Like;
  ttlMs?: Int64Like;
  retryCount?: number;
  messageId?: string;
}

/** Injectable sources for the builder. */
export interface EnvelopeBuilderOptions {
  clock?: Clock;
  random?: RandomSource;
  /** HLC used for `hlc_timestamp`; one is made per producer when absent. */
  hlc?: HybridLogicalClock;
}

/**
 * Builds an envelope: new UUIDv4 `message_id`, `correlation_id` supplied or new, `sequence_number` 1 unless
 * supplied, content type json/octet-stream by payload presence, `content_length`, now-timestamp, HLC, state SENT.
 * @throws RangeError for unsafe/out-of-range `sequenceNumber` or `ttlMs`; TypeError for an empty `producerId`.
 */
export function buildEnvelope(init: EnvelopeInit, options: EnvelopeBuilderOptions = {}): Envelope {
  if (!init.producerId) throw new TypeError('envelope: producerId is required');
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const hlc = options.hlc ?? new HybridLogicalClock(init.producerId, clock);
  const payload = typeof init.payload === 'string' ? new TextEncoder().encode(init.payload) : init.payload;
  const contentType = init.contentType ?? (payload !== undefined ? CONTENT_TYPES.octetStream : CONTENT_TYPES.json);
  return {
    messageId: init.messageId ?? uuidv4(random),
    idempotencyToken: init.idempotencyToken ?? '',
    producerId: init.producerId,
    correlationId: init.correlationId ?? uuidv4(random),
    sequenceNumber: init.sequenceNumber === undefined ? 1n : toUint64(init.sequenceNumber, 'sequence_number'),
    retryCount: init.retryCount ?? 0,
    messageType: init.messageType,
    contentType,
    contentLength: BigInt(payload?.byteLength ?? 0),
    repoId: init.repoId ?? '',
    worktreeId: init.worktreeId ?? '',
    hlcTimestamp: hlc.now(),
    ttlMs: init.ttlMs === undefined ? 0n : toUint64(init.ttlMs, 'ttl_ms'),
    timestamp: timestampFromMs(clock.now()),
    payload: payload ?? new Uint8Array(),
    state: EnvelopeState.ENVELOPE_STATE_SENT,
    parentCorrelationId: init.parentCorrelationId ?? '',
  };
}

/**
 * The envelope for a retry: a new `message_id`, the same idempotency token and correlation, `retry_count + 1`.
 */
export function retryEnvelope(previous: Envelope, options: EnvelopeBuilderOptions = {}): Envelope {
  const clock = options.clock ?? systemClock;
  const hlc = options.hlc ?? new HybridLogicalClock(previous.producerId, clock);
  return {
    ...previous,
    messageId: uuidv4(options.random ?? cryptoRandom),
    retryCount: previous.retryCount + 1,
    hlcTimestamp: hlc.now(),
    timestamp: timestampFromMs(clock.now()),
    state: EnvelopeState.ENVELOPE_STATE_SENT,
  };
}

/** A per-producer sender: one HLC and an auto-incrementing `sequence_number` ([ours], spec §3.5). */
export class EnvelopeFactory {
  private seq = 0n;
  private readonly hlc: HybridLogicalClock;

  constructor(
    readonly producerId: string,
    private readonly options: Omit<EnvelopeBuilderOptions, 'hlc'> = {},
  ) {
    this.hlc = new HybridLogicalClock(producerId, options.clock ?? systemClock);
  }

  /** Builds the next envelope of this producer. */
  build(init: Omit<EnvelopeInit, 'producerId' | 'sequenceNumber'>): Envelope {
    this.seq += 1n;
    return buildEnvelope({ ...init, producerId: this.producerId, sequenceNumber: this.seq }, { ...this.options, hlc: this.hlc });
  }

  /** Merges a received envelope's HLC into ours. */
  observe(envelope: Envelope): void {
    if (envelope.hlcTimestamp) this.hlc.receive(envelope.hlcTimestamp);
  }
}

