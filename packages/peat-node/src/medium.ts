// SPDX-License-Identifier: Apache-2.0
// What the orchestrator sends and hears. A medium delivers node messages to every other node (beacons) or to a
// cell's members; `SimMedium` is the in-process one for simulations and tests: deliveries happen on the injected
// clock after a latency, and nodes can be cut off and reconnected.
import type { Clock } from '@ecps/core';
import type { Beacon, BootstrapStatus, CellPayload, CellRole } from '@ecps/peat-cell';
import type { NodeConfig, NodeState } from '@ecps/peat';
import type { DownItem, UpItem } from './echelon-messages';
import type { Echelon, SummaryWire } from './summary-link';

export type NodeMessage =
  | { readonly kind: 'beacon'; readonly beacon: Beacon }
  /** The initiator proposes a cell to the members of its cluster. */
  | { readonly kind: 'propose'; readonly cell_id: string; readonly members: readonly string[] }
  /** A member joins with its configuration. */
  | { readonly kind: 'join'; readonly cell_id: string; readonly config: NodeConfig }
  /** The cell's bootstrap result (from the initiator) and, later, the coordinator's status (from the leader). */
  | { readonly kind: 'cell'; readonly cell_id: string; readonly bootstrap_status: BootstrapStatus; readonly members: readonly string[]; readonly status: string | null }
  | { readonly kind: 'role'; readonly cell_id: string; readonly roles: Readonly<Record<string, CellRole>> }
  | { readonly kind: 'state'; readonly cell_id: string; readonly state: NodeState }
  | { readonly kind: 'disband'; readonly cell_id: string }
  | { readonly kind: 'bus'; readonly cell_id: string; readonly payload: CellPayload }
  /** A summary delta, or a snapshot answering a request (hierarchy, §5.2). */
  | SummaryWire
  /** A receiver missed a delta: `to` (the publisher) answers with a snapshot. */
  | { readonly kind: 'snapshot_request'; readonly to: string; readonly level: Echelon; readonly id: string }
  | { readonly kind: 'down'; readonly to: string; readonly item: DownItem }
  | { readonly kind: 'up'; readonly to: string; readonly item: UpItem };

const KINDS: ReadonlySet<string> = new Set(['beacon', 'propose', 'join', 'cell', 'role', 'state', 'disband', 'bus', 'summary', 'snapshot', 'snapshot_request', 'down', 'up']);

/** Encodes a node message as JSON bytes (what the transport-backed media carry). */
export function encodeNodeMessage(message: NodeMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message));
}

/** Decodes JSON bytes into a node message; undefined when they are not JSON or not one of the known kinds. */
export function decodeNodeMessage(bytes: Uint8Array): NodeMessage | undefined {
  try {
    const m = JSON.parse(new TextDecoder().decode(bytes)) as { kind?: unknown } | null;
    return typeof m === 'object' && m !== null && typeof m.kind === 'string' && KINDS.has(m.kind) ? (m as NodeMessage) : undefined;
  } catch {
    return undefined;
  }
}

export interface Envelope {
  readonly from: string;
  readonly message: NodeMessage;
}

/** How a node reaches the others. */
export interface NodeMedium {
  /** Registers a node's receiver; returns its sender. */
  attach(nodeId: string, receive: (e: Envelope) => void): (message: NodeMessage) => void;
  detach(nodeId: string): void;
}

export interface SimMediumStats {
  delivered: number;
  dropped: number;
  byKind: Record<string, number>;
}

/** An in-process medium on a clock: every message reaches every attached, connected node after `latencyMs`. */
export class SimMedium implements NodeMedium {
  private readonly nodes = new Map<string, (e: Envelope) => void>();
  private readonly cut = new Set<string>();
  readonly stats: SimMediumStats = { delivered: 0, dropped: 0, byKind: {} };

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs = 5,
  ) {}

  attach(nodeId: string, receive: (e: Envelope) => void): (message: NodeMessage) => void {
    this.nodes.set(nodeId, receive);
    return (message) => {
      if (this.cut.has(nodeId)) {
        this.stats.dropped++;
        return;
      }
      this.stats.byKind[message.kind] = (this.stats.byKind[message.kind] ?? 0) + 1;
      this.clock.setTimeout(() => {
        for (const [id, deliver] of this.nodes) {
          if (id === nodeId) continue;
          if (this.cut.has(id)) {
            this.stats.dropped++;
            continue;
          }
          this.stats.delivered++;
          deliver({ from: nodeId, message });
        }
      }, this.latencyMs);
    };
  }

  detach(nodeId: string): void {
    this.nodes.delete(nodeId);
  }

  /** Cuts a node off: nothing it sends leaves, nothing reaches it. */
  disconnect(nodeId: string): void {
    this.cut.add(nodeId);
  }

  reconnect(nodeId: string): void {
    this.cut.delete(nodeId);
  }
}
