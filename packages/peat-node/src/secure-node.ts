// SPDX-License-Identifier: Apache-2.0
// One authenticated node in a few lines: the mutual formation-key handshake, a mesh transport on a link, a replica
// that syncs signed changes between the authenticated peers, and the orchestrator on top with every node message
// (election, summaries, commands, events, deployment items) on the same authenticated transport.
import { seededRandom } from '@ecps/core';
import type { Clock, RandomSource } from '@ecps/core';
import { MutualHandshake, PeatReplica, meshTransport } from '@ecps/peat';
import type { NodeConfig, NodeIdentity, PeatLink } from '@ecps/peat';
import { NodeOrchestrator } from './orchestrator';
import type { OrchestratorOptions } from './orchestrator';
import { peatMedium } from './peat-medium';

export interface SecureNodeOptions extends Omit<OrchestratorOptions, 'medium' | 'replica' | 'config' | 'clock'> {
  readonly identity: NodeIdentity;
  /** How this node reaches the others (`MemoryNetwork.link(id)`, `pubsubLink(...)` over MQTT). */
  readonly link: PeatLink;
  readonly clock: Clock;
  readonly formationId: string;
  /** The formation secret (base64, ≥ 32 bytes), shared out of band. */
  readonly formationSecret: string;
  /** The node's configuration; its id is the identity's node id. */
  readonly config: Omit<NodeConfig, 'id'>;
  /** Randomness of the handshake, transport and replica. Default: seeded from the node id (tests, simulations). */
  readonly random?: RandomSource;
}

export interface SecureNode {
  readonly orchestrator: NodeOrchestrator;
  readonly replica: PeatReplica;
  /** Starts the replica and the orchestrator. */
  start(): Promise<void>;
  /** Stops the orchestrator (Leave) and the replica. */
  stop(): Promise<void>;
}

/** @throws PeatError `INVALID_ARGUMENT` from the handshake for a secret shorter than 32 bytes. */
export async function openSecureNode(options: SecureNodeOptions): Promise<SecureNode> {
  const { identity, link, clock, formationId, formationSecret, config, random: given, ...rest } = options;
  const random = given ?? seededRandom([...identity.nodeId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7));
  const handshake = new MutualHandshake({ formationId, formationSecret, identity, clock, random });
  const transport = meshTransport({ link, clock, random, handshake });
  const replica = await PeatReplica.open({ transport, identity, clock, random });
  const orchestrator = new NodeOrchestrator({ ...rest, config: { ...config, id: identity.nodeId }, clock, medium: peatMedium(transport), replica });
  return {
    orchestrator,
    replica,
    async start() {
      await replica.start();
      orchestrator.start();
    },
    async stop() {
      orchestrator.stop();
      await replica.stop();
    },
  };
}
