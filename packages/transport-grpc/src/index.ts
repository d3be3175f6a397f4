// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/transport-grpc.

export { grpcTransport } from './grpc-transport';
export { grpcBusServer, addBusService, BusRouter, BUS_FRAME_HEADROOM_BYTES, defaultCertificateIdentities } from './bus-server';
export { addMemoryStoreService, createMemoryStoreClient } from './memory-store';
export { addEcpsService, methodPath } from './service-server';
export { createEcpsClient } from './service-client';
export { createGrpcServer, startGrpcServer, bindGrpcServer } from './server';
export { maxMessageSizeFor, channelOptionsFor, clientCredentials, serverCredentials, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from './channel-options';
export { statusForError, errorFromStatus, toServiceError, ERROR_CODE_METADATA_KEY } from './status';

export type { GrpcTransport, GrpcTransportOptions, GrpcTransportStats } from './grpc-transport';
export type { GrpcBusServer, GrpcBusServerOptions, BusRouterOptions, BusRouterStats, BusAcl } from './bus-server';
export type { MemoryStoreHandler, MemoryStoreClient } from './memory-store';
export type {
  CallContext,
  GenericServiceDefinition,
  GenericMethodDefinition,
  ProtoMessageType,
  ServiceImplementation,
} from './service-server';
export type { GrpcClientOptions, GrpcCallOptions, ServiceClient } from './service-client';
export type { GrpcServerOptions, StartedGrpcServer } from './server';
export type { GrpcChannelSettings, GrpcClientTlsOptions, GrpcServerTlsOptions } from './channel-options';
