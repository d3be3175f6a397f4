// SPDX-License-Identifier: Apache-2.0
// @ecps/trust-tpm: TPM 2.0 keys, attestation and measured boot (device side), and a pure-TypeScript verifier.

export { TpmKeyProvider } from './tpm-key-provider';
export { tcpTransport, streamTransport, deviceTransport } from './transport';
export { TpmError } from './errors';
export { QuoteVerifier, verifyQuoteReport, enrollAttestationKey } from './verifier';
export { makeCredential } from './credential';
export { AttestationGate, serveAttestation, attestationService } from './handshake';
export { encodeReport, decodeReport, MAX_REPORT_BYTES } from './report-json';
export { bootPolicy, measurementDigest, replayMeasurements, firstMismatch, MAX_MEASUREMENTS } from './measured-boot';
export { parseAttest, parseSignature, verifyTpmSignature } from './quote';
export { parsePublic, objectName } from './public-area';

export type { TpmKeyProviderOptions, AttestationKeyInfo, EndorsementKeyInfo, AttestOptions } from './tpm-key-provider';
export type { TpmTransport, TransportOptions, TcpTransportOptions } from './transport';
export type { QuoteRejection, EnrolledAttestationKey, VerifiedQuote, VerifyQuoteOptions, QuoteVerifierOptions } from './verifier';
export type { Credential } from './credential';
export type { AttestationGateOptions, AttestedDevice, ServeAttestationOptions } from './handshake';
export type { Measurement, BootPolicy, MeasurementMismatch } from './measured-boot';
export type { TpmAttest, TpmClockInfo, TpmSignature } from './quote';
export type { TpmPublic, EccPublic, RsaPublic } from './public-area';
export type { PcrSelection } from './pcr-selection';
