// SPDX-License-Identifier: Apache-2.0
// Trust layer: wraps the node's transport with the one a trust provider builds (e.g. `softwareTrust` of
// @ecps/trust), so that every layer above publishes and receives through it. Structural, so the runtime does not
// depend on a particular trust implementation.
import type { Transport } from '@ecps/core';

/** What `createNode({ trust })` takes: `softwareTrust(...)` from @ecps/trust, or any provider of the same shape. */
export interface NodeTrust {
  /** The spec's TrustLevel (0 NONE … 4 AUDITED). */
  readonly level: number;
  /** Wraps the node's transport; at AUTHENTICATED and above the result signs and checks every message. */
  wrap(transport: Transport, nodeId: string): Promise<Transport>;
}

/** Applies `trust` to a node's transport (the transport itself when no trust is configured). */
export async function applyTrust(transport: Transport, nodeId: string, trust: NodeTrust | undefined): Promise<Transport> {
  return trust ? trust.wrap(transport, nodeId) : transport;
}
