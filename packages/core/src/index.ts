// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/core: contracts and primitives every other package shares.

export { ERROR_CODES, EcpsError, ValidationError, TransportError, isEcpsError } from './errors';
export { systemClock, ManualClock } from './clock';
export { cryptoRandom, seededRandom } from './random';
export { concatBytes, varintSize, writeVarint } from './bytes';
export { uuidv4, isUuid, assertNodeId, nodeSource, nodeIdFromSource, toHex, fromHex } from './ids';
export {
  EVENT_TYPES,
  RPC_EVENT_TYPES,
  CORE_ATTRIBUTES,
  CLOUDEVENTS_SPEC_VERSION,
  PROTOBUF_CONTENT_TYPE,
  isIgnoredEventType,
  isValidExtensionName,
  eventTime,
} from './event';
export { assertTopic, assertTopicFilter, topicMatches } from './topic';
export { DEFAULT_REQUEST_TIMEOUT_MS, ENVELOPE_HEADROOM_BYTES } from './transport';
export { PubSubRpc, rpcTopics, perCorrelationRpcTopics, fixedRpcTopics, correlationOf, withCorrelation } from './rpc';
export { AsyncQueue } from './async-queue';
export { encodeAck, decodeAck } from './ack';
export { silentLogger } from './logger';
export {
  SPEC_STRINGS,
  MAX_PROMPT_BYTES,
  LTP_DTYPES,
  assertSpec,
  assertPromptSize,
  assertToolJson,
  assertValidMcp,
  assertStateSha,
  assertValidEap,
  assertDtype,
  assertCompressionLevel,
  assertMinSim,
  tensorByteSize,
} from './validation';
export {
  TIMING_BUDGETS,
  QOS_LEVELS,
  DEFAULT_QOS,
  TRANSPORT_QOS_MAPPING,
  CONFORMANCE_PROFILES,
  getProfile,
  getQosForMessageType,
  getProfileQos,
  validateTimingBudget,
} from './qos';
export { resolveConfig } from './config';

export type { EcpsErrorCode, EcpsErrorOptions } from './errors';
export type { Clock, TimerHandle } from './clock';
export type { RandomSource } from './random';
export type { EcpsEvent } from './event';
export type {
  Transport,
  QosLevel,
  PublishOptions,
  SubscribeOptions,
  RequestOptions,
  EventHandler,
  RequestHandler,
  StreamHandler,
  Subscription,
} from './transport';
export type { PubSub, PubSubRpcOptions, RpcTopicScheme } from './rpc';
export type { AckMessage } from './ack';
export type { CodecName, MessageCodec } from './codec';
export type { Logger } from './logger';
export type {
  KeyProvider,
  KeyAlgorithm,
  KeyInfo,
  AeadSealInput,
  AeadSealed,
  AeadOpenInput,
  AttestationEvidence,
  HardwareSecurityProvider,
} from './key-provider';
export type { SpecName, McpShape, EapShape, LtpDtype, LtpCodecName } from './validation';
export type {
  MessageType,
  TransportKind,
  ProfileName,
  TransportQos,
  QosSettings,
  ConformanceProfile,
} from './qos';
export type { ConfigObject, ResolveConfigInput, DeepPartial } from './config';
