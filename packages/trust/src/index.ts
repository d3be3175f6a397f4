// SPDX-License-Identifier: Apache-2.0
// @ecps/trust: identities, RBAC, JWT, signed and sealed messages, the secure transport wrapper, key management.

export { TrustError } from './errors';
export { TrustLevel, parseTrustLevel, trustBehaviour } from './levels';
export { DEFAULT_ROLES, Rbac, isAllowed, permissionCandidates, splitPermission } from './rbac';
export { JwtKeyRing, issueToken, verifyToken } from './jwt';
export { signWithKeyObject, verifyWithKeyObject, signatureAlgorithmOf } from './signatures';
export { publicKeyObject, encodePublicKey, p256Point, p256FromPoint } from './key-encoding';
export { canAgree } from './key-agreement';
export { SoftwareKeyProvider, softwareKeyProvider, aesGcmSeal, aesGcmOpen, MAX_GCM_ENCRYPTIONS_PER_KEY } from './software-key-provider';
export { saveKeystore, loadKeystore, openOrCreateKeystore, KEYSTORE_KDF_LIMITS } from './keystore';
export {
  SEALED_ALG_X25519,
  SEALED_ALG_P256,
  SEALED_EVENT_TYPE,
  sealEnvelope,
  openEnvelope,
  sealedAad,
  sealedSigningInput,
} from './sealed-envelope';
export { ReplayGuard } from './replay-guard';
export { ReplayWindow, DEFAULT_REPLAY_WINDOW } from './replay-window';
export { SendChannel, ReceiveChannel, SESSION_TAG_BYTES, MAX_SESSION_SEQ } from './session-channel';
export { SESSION_SUITES, availableSessionSuites } from './session-suite';
export { createHandshakeInit, respondToHandshake, completeHandshake, readConfirm, confirmationValid, handshakeKind, SESSION_ID_BYTES } from './session-handshake';
export { SessionManager, SessionReplayScope, SESSION_EVENT_TYPE, SESSION_HANDSHAKE_EVENT_TYPE, sessionInboxTopic } from './session-manager';
export { KeyDirectory } from './key-directory';
export { IdentitySigner, signedInput } from './identity';
export { createDelegation, verifyDelegationChain } from './delegation';
export { MemoryAuditSink } from './audit';
export { FileAuditSink } from './file-audit-sink';
export { Protector, SIGNED_EVENT_TYPE } from './protect';
export { SecureTransport, secureTransport, defaultPermissionFor, SECURE_ENVELOPE_OVERHEAD } from './secure-transport';
export { REVOCATION_TOPIC, REVOCATION_EVENT_TYPE, publishRevocationList, applyRevocationList, subscribeRevocations } from './revocation';
export { readLegacySecureMessage } from './legacy-secure-message';
export { softwareTrust } from './software-trust';
export { attestationDeviceId, attestationSigningInput, createAttestation, verifyAttestation, isHardwareSecurityProvider } from './attestation';

export type { TrustLevelValue, TrustLevelName, TrustBehaviour } from './levels';
export type { Principal, PrincipalKind, RolePermissions, RbacOptions } from './rbac';
export type { JwtAlgorithm, JwtKey, IssueTokenOptions, VerifyTokenOptions } from './jwt';
export type { SignatureAlgorithm } from './signatures';
export type { KeyAgreementProvider } from './key-agreement';
export type { ExportedKey, SoftwareKeyProviderOptions } from './software-key-provider';
export type { KeystoreKdfParams } from './keystore';
export type { SealRecipient, EnvelopeSigner, SealOptions, OpenOptions } from './sealed-envelope';
export type { ReplayGuardOptions } from './replay-guard';
export type { RekeyPolicy, SealedMessage } from './session-channel';
export type { SessionSuiteName } from './session-suite';
export type { SessionKeys, PendingHandshake } from './session-handshake';
export type { SessionOptions, SessionManagerOptions } from './session-manager';
export type { TrustedKey } from './key-directory';
export type { Identity } from './identity';
export type { AuditEvent, AuditSink } from './audit';
export type { SealingKeys, ProtectorOptions, Unprotected } from './protect';
export type { SecureTransportOptions, MessageContext } from './secure-transport';
export type { LegacySecureMessageJson, LegacyReadOptions, LegacyMessage } from './legacy-secure-message';
export type { TrustProvider, SoftwareTrustOptions } from './software-trust';
export type { VerifyAttestationOptions } from './attestation';
