// SPDX-License-Identifier: Apache-2.0
// The intra-cell message bus (spec §3.1): per-sender sequence numbers, a priority-ordered outbound queue,
// duplicate/old/expired drops on receive (drop, never reorder), acknowledgements with retransmission after 2 s up
// to 3 times, and one-level priority escalation for traffic going up to the zone. Time comes from a Clock.
import type { Clock } from '@ecps/core';
import { PeatError } from '@ecps/peat';

export const MessagePriority = { Low: 0, Normal: 1, High: 2, Critical: 3 } as const;
export type MessagePriorityValue = (typeof MessagePriority)[keyof typeof MessagePriority];
export type RoutingContext = 'IntraCell' | 'CellToZone' | 'ZoneToCell' | 'IntraZone';

export const MESSAGE_TTL_MS = 30_000;
export const RETRANSMIT_MS = 2_000;
export const MAX_RETRIES = 3;
/** Bandwidth multipliers by priority (Low .. Critical). */
export const BANDWIDTH_MULTIPLIER: readonly number[] = [0.5, 1, 1.5, 2];

export type CellPayload =
  | { readonly type: 'Join'; readonly platform_id: string; readonly capabilities: readonly string[] }
  | { readonly type: 'Leave'; readonly platform_id: string; readonly reason: string }
  | { readonly type: 'CapabilityAnnounce'; readonly platform_id: string; readonly capabilities: readonly string[] }
  | { readonly type: 'LeaderAnnounce'; readonly leader_id: string; readonly election_round: number; readonly score_q: number }
  | { readonly type: 'Candidacy'; readonly candidate_id: string; readonly election_round: number; readonly score_q: number; readonly technical_q: number; readonly eligible: boolean }
  | { readonly type: 'Heartbeat'; readonly platform_id: string; readonly election_round: number }
  | { readonly type: 'RoleAssignment'; readonly platform_id: string; readonly role: string; readonly score: number; readonly is_primary: boolean }
  | { readonly type: 'StatusUpdate'; readonly platform_id: string; readonly status: string }
  | { readonly type: 'Ack'; readonly message_seq: number }
  | { readonly type: 'Nack'; readonly message_seq: number; readonly reason: string };

export interface CellMessage {
  /** `<sender>-<seq>`. */
  readonly message_id: string;
  readonly seq: number;
  readonly sender: string;
  readonly squad_id: string;
  readonly priority: MessagePriorityValue;
  readonly routing_context: RoutingContext;
  readonly payload: CellPayload;
  readonly timestamp: number;
  readonly ttl_ms: number;
}

/** Low → Normal → High → Critical; Critical stays. */
export function escalate(p: MessagePriorityValue): MessagePriorityValue {
  return Math.min(3, p + 1) as MessagePriorityValue;
}

export type DeliveryState = 'queued' | 'sent' | 'acked' | 'failed';

export interface CellBusOptions {
  readonly nodeId: string;
  readonly squadId: string;
  readonly clock: Clock;
  /** Called with each message leaving the queue (in priority order). */
  readonly send: (message: CellMessage) => void;
  /** Most messages waiting to be sent or acknowledged. Default 1,000. */
  readonly maxPending?: number;
  /** Most senders remembered for duplicate detection. Default 10,000. */
  readonly maxSenders?: number;
}

interface Pending {
  message: CellMessage;
  state: DeliveryState;
  retries: number;
  timer: unknown;
}

/**
 * One node's side of the bus. `post` assigns the next seq and queues; `flush` sends the queue, highest priority
 * first (oldest first within a priority); unacknowledged messages are resent every 2 s, then marked failed after
 * 3 retries. `receive` returns the message if it is to be delivered, or undefined if it was dropped.
 */
export class CellBus {
  private seq = 0;
  private readonly queue: CellMessage[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly lastSeen = new Map<string, number>();
  /** Our messages that ran out of retries (the most recent 1,000). */
  private readonly failed = new Set<number>();
  readonly stats = { sent: 0, retransmitted: 0, failed: 0, droppedDuplicate: 0, droppedExpired: 0 };

  constructor(private readonly options: CellBusOptions) {}

  /**
   * Queues `payload`; `CellToZone` traffic is escalated one priority level. Acks and nacks are never themselves
   * acknowledged. Returns the message. @throws PeatError `QUEUE_FULL` when `maxPending` messages are outstanding.
   */
  post(payload: CellPayload, priority: MessagePriorityValue = MessagePriority.Normal, routing: RoutingContext = 'IntraCell'): CellMessage {
    if (this.pending.size >= (this.options.maxPending ?? 1_000)) throw new PeatError('QUEUE_FULL', 'cell bus: too many outstanding messages');
    const seq = ++this.seq;
    const message: CellMessage = {
      message_id: `${this.options.nodeId}-${seq}`,
      seq,
      sender: this.options.nodeId,
      squad_id: this.options.squadId,
      priority: routing === 'CellToZone' ? escalate(priority) : priority,
      routing_context: routing,
      payload,
      timestamp: this.options.clock.now(),
      ttl_ms: MESSAGE_TTL_MS,
    };
    this.queue.push(message);
    this.pending.set(seq, { message, state: 'queued', retries: 0, timer: undefined });
    return message;
  }

  /** Sends every queued message, highest priority first. */
  flush(): void {
    const order = this.queue.splice(0).sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    for (const m of order) {
      this.options.send(m);
      this.stats.sent++;
      const p = this.pending.get(m.seq)!;
      if (m.payload.type === 'Ack' || m.payload.type === 'Nack') {
        this.pending.delete(m.seq);
        continue;
      }
      p.state = 'sent';
      this.arm(p);
    }
  }

  /** Delivery state of our message `seq`: queued, sent (awaiting its ack) or failed; undefined once acked, or unknown. */
  state(seq: number): DeliveryState | undefined {
    return this.pending.get(seq)?.state ?? (this.failed.has(seq) ? 'failed' : undefined);
  }

  /**
   * Handles an incoming message: an Ack settles our message; anything older than its TTL, or with a seq not above
   * the last seen from its sender, is dropped. Returns the message to deliver, or undefined.
   */
  receive(message: CellMessage): CellMessage | undefined {
    const now = this.options.clock.now();
    if (now - message.timestamp > message.ttl_ms) {
      this.stats.droppedExpired++;
      return undefined;
    }
    const last = this.lastSeen.get(message.sender) ?? 0;
    if (message.seq <= last) {
      this.stats.droppedDuplicate++;
      return undefined;
    }
    this.lastSeen.delete(message.sender);
    this.lastSeen.set(message.sender, message.seq);
    if (this.lastSeen.size > (this.options.maxSenders ?? 10_000)) this.lastSeen.delete(this.lastSeen.keys().next().value!);
    if (message.payload.type === 'Ack') {
      const p = this.pending.get(message.payload.message_seq);
      if (p) {
        this.options.clock.clearTimeout(p.timer as never);
        this.pending.delete(message.payload.message_seq);
      }
    }
    return message;
  }

  /** Stops every retransmission timer. */
  close(): void {
    for (const p of this.pending.values()) if (p.timer) this.options.clock.clearTimeout(p.timer as never);
    this.pending.clear();
    this.queue.length = 0;
  }

  private arm(p: Pending): void {
    p.timer = this.options.clock.setTimeout(() => {
      if (!this.pending.has(p.message.seq)) return;
      if (p.retries >= MAX_RETRIES) {
        p.state = 'failed';
        this.stats.failed++;
        this.pending.delete(p.message.seq);
        this.failed.add(p.message.seq);
        if (this.failed.size > 1_000) this.failed.delete(this.failed.values().next().value!);
        return;
      }
      p.retries++;
      this.stats.retransmitted++;
      this.options.send(p.message);
      this.arm(p);
    }, RETRANSMIT_MS);
  }
}
