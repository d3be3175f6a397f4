// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/peat-deploy: directives, scope matching, the blob store, the node agent and the
// issuer's tracker.

export { DEFAULT_OPTIONS, KNOWN_ARTIFACT_TYPES, parseDirective, expectedSha256, isTerminal } from './directive';
export { matchesScope } from './scope';
export { FolderBlobStore, HttpBlobStore, TRANSFER_PROFILES, fetchBlob } from './blob-store';
export { DeploymentAgent } from './agent';
export { DeploymentTracker } from './tracker';
export { ConfigPackageAdapter } from './config-package';

export type {
  ContainerRuntime,
  PortMapping,
  ArtifactType,
  ArtifactSpec,
  DeploymentScope,
  DeploymentPriority,
  DeploymentOptions,
  DeploymentDirective,
  DeploymentState,
  DeploymentStatus,
  DeploymentControl,
} from './directive';
export type { NodeProfile } from './scope';
export type { BlobStore, BlobRange, TransferProfile, FetchOptions } from './blob-store';
export type { InstanceState, RuntimeAdapter, DeploymentAgentOptions } from './agent';
export type { DeploymentOutcome } from './tracker';
export type { ConfigPackageOptions } from './config-package';
