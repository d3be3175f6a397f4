// SPDX-License-Identifier: Apache-2.0
// Receiver side of the ACK lifecycle (spec §3.4): RECEIVED on admission, READ on dequeue, FULFILLED on success,
// NACK for unhandled types or a full inbound buffer. Never a silent drop; never an ACK of an ACK.
import type { Clock, Logger } from '@ecps/core';
import { silentLogger, systemClock } from '@ecps/core';
import type { AckPayload } from './ack';
import { ackOf, buildAckEnvelope } from './ack';
import { normaliseEnum } from './enums';
import { AckStage, ErrorCode, MessageType } from './gen/common';
import type { Envelope } from './gen/common';

/** Handles one envelope; throwing ends it FAILED (INTERNAL_ERROR). */
export type EnvelopeHandler = (envelope: Envelope) => Promise<void> | void;

/** Options of {@link MessageProcessor}. */
export interface MessageProcessorOptions {
  agentId: string;
  /** Sends an ACK/NACK envelope (through the router). */
  sendAck(envelope: Envelope): Promise<void>;
  /** Receives every ACK addressed to us (e.g. AckLifecycleManager.handleAck). */
  onAck?(ack: AckPayload, envelope: Envelope): void;
  /** Inbound buffer size; default 10, full → REJECTED BUFFER_FULL. */
  bufferCapacity?: number;
  /** Receiver dedup window for tokens/message ids; default 3 600 000 ms. */
  dedupWindowMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** What happened to one envelope given to {@link MessageProcessor.submit}. */
export type SubmitResult = 'ack' | 'queued' | 'duplicate' | 'rejected';

/**
 * Dispatches envelopes to per-type handlers, one at a time, in arrival order.
 * `submit` resolves once the envelope is admitted (RECEIVED sent) or refused (NACK sent).
 */
export class MessageProcessor {
  private readonly handlers = new Map<number, EnvelopeHandler>();
  private readonly queue: Envelope[] = [];
  private readonly seen = new Map<string, number>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly capacity: number;
  private readonly windowMs: number;
  private running: Promise<void> | undefined;

  constructor(private readonly options: MessageProcessorOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.capacity = options.bufferCapacity ?? 10;
    this.windowMs = options.dedupWindowMs ?? 3_600_000;
  }

  /** Registers the handler of a message type (replacing an earlier one). */
  on(type: MessageType, handler: EnvelopeHandler): this {
    this.handlers.set(type, handler);
    return this;
  }

  /** Admits one envelope (see the class doc). Errors of `sendAck` propagate. */
  async submit(envelope: Envelope): Promise<SubmitResult> {
    const type = normaliseEnum(MessageType, envelope.messageType) ?? 0;
    if (type === MessageType.ACKNOWLEDGEMENT) {
      const ack = ackOf(envelope);
      if (ack) this.options.onAck?.(ack, envelope);
      else this.logger.debug('ignoring invalid ACK payload', { messageId: envelope.messageId });
      return 'ack';
    }
    this.prune();
    const key = envelope.idempotencyToken ? `t:${envelope.producerId}:${envelope.idempotencyToken}` : `m:${envelope.messageId}`;
    if (this.seen.has(key)) {
      await this.ack(envelope, AckStage.REJECTED, ErrorCode.DUPLICATE_DETECTED, 'duplicate_detected: already processed or in progress');
      return 'duplicate';
    }
    if (!this.handlers.has(type)) {
      await this.ack(envelope, AckStage.REJECTED, ErrorCode.UNSUPPORTED_MESSAGE_TYPE, `unsupported_message_type: ${type}`);
      return 'rejected';
    }
    if (this.queue.length >= this.capacity) {
      await this.ack(envelope, AckStage.REJECTED, ErrorCode.BUFFER_FULL, 'buffer_full: inbound buffer full');
      return 'rejected';
    }
    this.seen.set(key, this.clock.now());
    this.queue.push(envelope);
    await this.ack(envelope, AckStage.RECEIVED);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return 'queued';
  }

  /** Resolves when every admitted envelope has been processed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    for (let env = this.queue.shift(); env; env = this.queue.shift()) {
      const handler = this.handlers.get(normaliseEnum(MessageType, env.messageType) ?? 0)!;
      try {
        await this.ack(env, AckStage.READ);
        await handler(env);
        await this.ack(env, AckStage.FULFILLED);
      } catch (err) {
        this.logger.warn('handler failed', { messageId: env.messageId, error: String(err) });
        await this.ack(env, AckStage.FAILED, ErrorCode.INTERNAL_ERROR, `internal_error: ${String(err)}`).catch(() => undefined);
      }
    }
  }

  private prune(): void {
    const cutoff = this.clock.now() - this.windowMs;
    for (const [k, at] of this.seen) {
      if (at > cutoff) break;
      this.seen.delete(k);
    }
  }

  private ack(envelope: Envelope, stage: AckStage, errorCode?: ErrorCode, note?: string): Promise<void> {
    const init = { producerId: this.options.agentId, stage, ...(errorCode ? { errorCode } : {}), ...(note ? { note } : {}) };
    return this.options.sendAck(buildAckEnvelope(envelope, init, { clock: this.clock }));
  }
}
