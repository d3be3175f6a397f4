// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat: documents, the sync engine, transports and security.

export { PeatError } from './errors';
export { PeatReplica } from './replica';
export { docKey, splitDocKey } from './doc-key';
export { COLLECTION_POLICIES, DEFAULT_POLICY, policyFor, isSingleWriter } from './policy';
export {
  FrameType,
  BATCH_KEY,
  DEFAULT_BATCH_TTL,
  DEFAULT_MAX_FRAME_BYTES,
  CHANGE_SIGNATURE_BYTES,
  encodeFrame,
  decodeFrame,
  encodeSyncBatch,
  decodeSyncBatch,
  encodeDigest,
  decodeDigest,
  encodeChangeSignatures,
  decodeChangeSignatures,
  encodeTombstone,
  decodeTombstone,
  encodeTombstoneBatch,
  decodeTombstoneBatch,
  encodeTombstoneAck,
  decodeTombstoneAck,
} from './frame';
export { ByteReader, ByteWriter } from './bytes';
export { DocumentStore, GENESIS_ACTOR } from './store/document-store';
export { writeDiff, toPlain, readLeader, writeLeader, compareLeaders, orSetAdd, orSetRemove, SYSTEM_FIELDS } from './store/document';
export { MemoryStorage, FileStorage } from './store/storage';
export { changesInChunk, changesInSyncMessage } from './store/change-info';
export { SyncEngine, headsDigest } from './sync/sync-engine';
export { routeDocument, routeTombstone } from './sync/topology';
export { meshTransport, MeshTransport, LinkKind } from './transport/mesh-transport';
export { MemoryNetwork } from './transport/memory-link';
export { pubsubLink, peatUnicastTopic, peatBroadcastTopic, PEAT_EVENT_TYPE } from './transport/pubsub-link';
export { PeerChannel, CircuitBreaker, RELIABILITY_DEFAULTS, retryDelay } from './transport/reliability';
export { VirtualClock } from './sim/virtual-clock';
export {
  CapabilityType,
  Health,
  Phase,
  HierarchyLevel,
  AUTHORITY_LEVELS,
  RANK_SCORES,
  capabilityTypeName,
  capabilityTypeFromName,
  healthScore,
  authorityLevel,
  authorityScore,
  authorityRank,
  canOverride,
  rankScore,
  isOperational,
  needsRefuel,
  maxAuthority,
  hasOperator,
} from './model';
export { deviceIdFromPublicKey, isDeviceId, verifyEd25519, meshGenesis } from './security/ed25519';
export { identityFromKeyProvider, actorIdFor, nodeIdOfActor } from './security/identity';
export {
  MutualHandshake,
  HandshakeStep,
  formationKey,
  formationIkm,
  handshakeTranscript,
  hmacSha256,
  legacyHandshakeResponse,
  encodeHello,
  encodeChallenge,
  encodeResponse,
  encodeResult,
  decodeHandshake,
} from './security/handshake';
export {
  Permission,
  Tier,
  MIN_CERTIFICATE_BYTES,
  CertificateValidator,
  issueCertificate,
  encodeCertificate,
  decodeCertificate,
  certificateSigningBytes,
} from './security/certificate';
export { RoleBasedAuthorizer, ROLE_PERMISSIONS } from './security/rbac';
export { ChangeVerifier, changeSigningInput, signChange } from './security/signed-changes';
export { DeviceChallenger, answerChallenge, challengeSigningInput } from './security/device-challenge';

export type { PeatReplicaOptions } from './replica';
export type {
  CapabilityTypeValue,
  HealthValue,
  PhaseValue,
  HierarchyLevelValue,
  AuthorityLevel,
  Capability,
  Position,
  NodeState,
  Operator,
  OperatorBinding,
  NodeConfig,
} from './model';
export type { SyncMode, Direction, TombstonePropagation, DeletionPolicy, WriterRule, CollectionPolicy } from './policy';
export type { Frame, FrameTypeValue, SyncBatch, DigestEntry, ChangeSignature, Tombstone } from './frame';
export type { DocumentStoreOptions, ChangeEvent, ChangeObserver } from './store/document-store';
export type { DocValue, LeaderRegister } from './store/document';
export type { StorageAdapter } from './store/storage';
export type { ChangeInfo } from './store/change-info';
export type { SyncEngineOptions, SyncStats, SigningOptions, RejectionEvent } from './sync/sync-engine';
export type { Topology } from './sync/topology';
export type { PeatLink, PeatTransport, LinkHandler } from './transport/types';
export type { MeshDropReasons, MeshTransportOptions, MeshTransportStats } from './transport/mesh-transport';
export type { MemoryNetworkOptions, MemoryNetworkStats } from './transport/memory-link';
export type { PubSubLinkOptions } from './transport/pubsub-link';
export type { ReliabilityOptions, ChannelStats, BreakerState } from './transport/reliability';
export type { MeshGenesis } from './security/ed25519';
export type { NodeIdentity } from './security/identity';
export type { HandshakeOptions, Hello, Challenge, Response, HandshakeMessage, AuthenticatedPeer, CertificateCheck, InitiatorState, ResponderState } from './security/handshake';
export type { MeshCertificate, TierValue, IssueCertificateInput, CertificateAuthorityOptions } from './security/certificate';
export type { PeatRole, PeatPermission, WriteRequest, WriteAuthorizer } from './security/rbac';
export type { ChangeVerifierOptions } from './security/signed-changes';
export type { DeviceChallenge, DeviceChallengeResponse } from './security/device-challenge';
