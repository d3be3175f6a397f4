// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm. All generated types: `@ecps/sw4rm/proto`.

export { AckStage, AgentState, CommunicationClass, EnvelopeState, ErrorCode, MessageType, Envelope, Ack, Empty } from './gen/common';
export { DeliveryAckOutcome } from './gen/router';
export { toInt64, toUint64 } from './int64';
export { timestampFromMs, timestampToMs, durationFromMs, durationToMs } from './timestamp';
export { idempotencyToken, IDEMPOTENCY_PROFILE } from './idempotency';
export { HybridLogicalClock, parseHlc, formatHlc, compareHlc } from './hlc';
export { CONTENT_TYPES, parseContentType, contentTypeMatches, isJsonContentType } from './content-types';
export { normaliseEnum, enumName } from './enums';
export { buildEnvelope, retryEnvelope, EnvelopeFactory } from './envelope';
export { envelopeToJson, envelopeFromJson } from './envelope-json';
export { buildAckEnvelope, encodeAckPayload, parseAckPayload, ackOf, isTerminalStage, isSuccessStage, envelopeStateForStage } from './ack';
export { errorCodeFromGrpcStatus, grpcStatusFromErrorCode, reasonFor } from './grpc-errors';
export { AckLifecycleManager } from './ack-lifecycle';
export { MessageProcessor } from './message-processor';
export { ActivityBuffer, BufferFullError, jsonFileActivityStorage, memoryActivityStorage } from './activity-buffer';
export { writeFileAtomic, readFileIfExists, acquireLock } from './json-file';
export { AGENT_TRANSITIONS, AGENT_STATE_TIMEOUTS_MS, AgentStateMachine, isAgentTransitionAllowed } from './agent-state';
export { WORKTREE_TRANSITIONS, WorktreeManager, jsonFileWorktreeStore } from './worktree';
export { SW4RM_SERVICES, rpcInventory } from './services';
export { validateWorkflowDag } from './workflow-dag';
export { createClient, prepareRequest, resolveAddress, Sw4rmRpcError } from './client';
export { encodeToBuffer } from './encode';
export { IncomingStream } from './incoming-stream';
export { Sw4rmServer, HEALTH_SERVICE, HEALTH_STATUS, adaptUnary, grpcStatusOf, hostServices } from './server';
export { serverCredentials, clientCredentials, createAuthenticator, NO_AUTH } from './security';
export { memoryKvStore, KvJsonTable } from './kv-store';

export type { Int64Like } from './int64';
export type { HlcValue } from './hlc';
export type { ParsedContentType } from './content-types';
export type { EnvelopeInit, EnvelopeBuilderOptions } from './envelope';
export type { AckPayload, AckInit } from './ack';
export type { SendOutcome, AttemptRecord, OperationSnapshot, AckLifecycleOptions } from './ack-lifecycle';
export type { EnvelopeHandler, MessageProcessorOptions, SubmitResult, DedupRecord } from './message-processor';
export type { ActivityRecord, ActivitySnapshot, ActivityStorage, JsonFileStorageOptions, ActivityBufferOptions } from './activity-buffer';
export type { FileLock } from './json-file';
export type { WorktreeState, WorktreeEvent, WorktreeBinding, WorktreeHooks, WorktreeStore, WorktreeManagerOptions, WorktreeResult, BindFailure, BindRetryOptions } from './worktree';
export type { Sw4rmServiceName, RpcInfo } from './services';
export type { MessageEncoder } from './encode';
export type { CallOptions, ClientOptions, Sw4rmClient, ClientOf, RequestInput } from './client';
export type { DeliveryVerdict, IncomingStreamOptions } from './incoming-stream';
export type { AsyncUnaryImpl, CallContext, Sw4rmServerOptions, HostingOptions, Hosted } from './server';
export type { ServerTlsOptions, ClientTlsOptions, AuthOptions, Authenticator, IdentifiableCall } from './security';
export type { KvOp, KvStore } from './kv-store';
