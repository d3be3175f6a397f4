// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat-grpc.

export { GrpcMeshLink, grpcMeshLink, MESH_STREAM_PATH } from './grpc-mesh-link';
export { encodePeatFrame, decodePeatFrame } from './wire';

export type { GrpcMeshLinkOptions } from './grpc-mesh-link';
