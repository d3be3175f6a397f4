// SPDX-License-Identifier: Apache-2.0
// Serving NegotiationService, SchedulerPolicyService, NegotiationRoomService and ActivityService (+ health).
import { hostServices } from '@ecps/sw4rm';
import type { Hosted, HostingOptions, Sw4rmServer } from '@ecps/sw4rm';
import { ActivityServiceService, NegotiationRoomServiceService, NegotiationServiceService, SchedulerPolicyServiceService } from '@ecps/sw4rm/proto';
import { ArtifactStore } from './artifacts';
import type { ArtifactStoreOptions } from './artifacts';
import type { NegotiationServiceOptions } from './negotiation';
import { NegotiationService } from './negotiation';
import { PolicyStore } from './policy';
import type { NegotiationRoomOptions } from './room';
import { NegotiationRoom } from './room';

/** Options of {@link startNegotiation}. */
export interface StartNegotiationOptions extends Omit<NegotiationServiceOptions, 'policies'>, HostingOptions {
  room?: NegotiationRoomOptions;
  /** Artifact limits (the store is `store`). */
  artifacts?: Omit<ArtifactStoreOptions, 'store'>;
}

/** The running coordination services. */
export interface RunningNegotiation extends Hosted {
  negotiation: NegotiationService;
  policies: PolicyStore;
  room: NegotiationRoom;
  artifacts: ArtifactStore;
}

/** Adds the four services to `server`. */
export function addNegotiationServices(server: Sw4rmServer, s: { negotiation: NegotiationService; policies: PolicyStore; room: NegotiationRoom; artifacts: ArtifactStore }): void {
  const { negotiation: n, policies: p, room: r, artifacts: a } = s;
  server.addUnaryService(
    'sw4rm.negotiation.NegotiationService',
    NegotiationServiceService,
    {
      open: (q: never) => n.open(q),
      propose: (q: never) => n.propose(q),
      counter: (q: never) => n.counter(q),
      evaluate: (q: never) => n.evaluate(q),
      decide: (q: never) => n.decide(q),
      abort: (q: never) => n.abort(q),
    },
  );
  server.addUnaryService(
    'sw4rm.scheduler.SchedulerPolicyService',
    SchedulerPolicyServiceService,
    {
      setNegotiationPolicy: (q: never) => p.setNegotiationPolicy(q),
      getNegotiationPolicy: () => p.getNegotiationPolicy(),
      setPolicyProfiles: (q: never) => p.setPolicyProfiles(q),
      listPolicyProfiles: () => p.listPolicyProfiles(),
      getEffectivePolicy: (q: never) => p.getEffectivePolicy(q),
      submitEvaluation: (q: never) => p.submitEvaluation(q),
      hitlAction: (q: never) => p.hitlAction(q),
    },
  );
  server.addUnaryService(
    'sw4rm.negotiation_room.NegotiationRoomService',
    NegotiationRoomServiceService,
    {
      submitProposal: (q: never) => r.submitProposal(q),
      submitVote: (q: never) => r.submitVote(q),
      getVotes: (q: never) => r.getVotes(q),
      getDecision: (q: never) => r.getDecision(q),
      waitForDecision: (q: never) => r.waitForDecision(q),
    },
  );
  server.addUnaryService('sw4rm.activity.ActivityService', ActivityServiceService, { appendArtifact: (q: never) => a.appendArtifact(q), listArtifacts: (q: never) => a.listArtifacts(q) });
}

/** Starts the coordination services on `host:port`. @throws EcpsError IO_ERROR when the port cannot be bound. */
export async function startNegotiation(options: StartNegotiationOptions = {}): Promise<RunningNegotiation> {
  // policies, profiles and artifacts are durable in `store` too
  const policies = await PolicyStore.open(options.store);
  const negotiation = await NegotiationService.open({ ...options, policies });
  const room = await NegotiationRoom.open({ ...(options.clock ? { clock: options.clock } : {}), ...options.room });
  const artifacts = await ArtifactStore.open({ ...options.artifacts, ...(options.store ? { store: options.store } : {}) });
  const services = { negotiation, policies, room, artifacts };
  const cleanup = () => {
    negotiation.close();
    room.close();
  };
  return { ...services, ...(await hostServices(options, 50053, (s: Sw4rmServer) => addNegotiationServices(s, services), cleanup)) };
}
