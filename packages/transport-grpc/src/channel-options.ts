// SPDX-License-Identifier: Apache-2.0
// Channel settings every ECPS gRPC endpoint shares (spec §9): message size per profile, keepalive, TLS.
import * as grpc from '@grpc/grpc-js';
import { CONFORMANCE_PROFILES, ENVELOPE_HEADROOM_BYTES, ValidationError, type ProfileName } from '@ecps/core';

/** Keepalive ping interval and the time to wait for its answer before the connection is declared dead. */
export const KEEPALIVE_TIME_MS = 30_000;
export const KEEPALIVE_TIMEOUT_MS = 5_000;

/** TLS for a client. With neither `ca` nor a cert, the system roots are trusted. */
export interface GrpcClientTlsOptions {
  /** PEM roots that sign the server's certificate. */
  ca?: Uint8Array | string;
  /** PEM client certificate chain and key, for mutual TLS. Give both or neither. */
  cert?: Uint8Array | string;
  key?: Uint8Array | string;
  /** Name to verify in the server certificate instead of the target host (e.g. when dialling an IP). */
  serverName?: string;
}

/** TLS for a server. */
export interface GrpcServerTlsOptions {
  /** PEM certificate chain and key of the server. */
  cert: Uint8Array | string;
  key: Uint8Array | string;
  /** PEM roots that sign client certificates; required with `requireClientCert`. */
  ca?: Uint8Array | string;
  /** Mutual TLS: refuse clients without a certificate signed by `ca`. Default false. */
  requireClientCert?: boolean;
}

/** Settings shared by ECPS gRPC clients and servers. */
export interface GrpcChannelSettings {
  /** Conformance profile whose `max_message_size` (+4096 bytes) bounds every message. Default `standard`. */
  profile?: ProfileName;
  /** Overrides the profile-derived bound on one gRPC message, in bytes. */
  maxMessageSize?: number;
  /** Keepalive ping interval. Default 30000 ms. */
  keepaliveTimeMs?: number;
  /** How long an unanswered ping may take before the connection is dropped. Default 5000 ms. */
  keepaliveTimeoutMs?: number;
  /** Extra grpc-js channel options, applied last. */
  channelOptions?: grpc.ChannelOptions;
}

/** The largest gRPC message for a profile: `max_message_size + 4096` (spec §9). */
export function maxMessageSizeFor(settings: GrpcChannelSettings = {}): number {
  return settings.maxMessageSize ?? CONFORMANCE_PROFILES[settings.profile ?? 'standard'].maxMessageSizeBytes + ENVELOPE_HEADROOM_BYTES;
}

/** grpc-js channel options for a client or server with the given settings. */
export function channelOptionsFor(settings: GrpcChannelSettings = {}, maxMessageSize = maxMessageSizeFor(settings)): grpc.ChannelOptions {
  return {
    'grpc.max_send_message_length': maxMessageSize,
    'grpc.max_receive_message_length': maxMessageSize,
    'grpc.keepalive_time_ms': settings.keepaliveTimeMs ?? KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': settings.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    ...settings.channelOptions,
  };
}

const buf = (value: Uint8Array | string): Buffer => (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value));

/**
 * Client credentials: plaintext without `tls`, TLS (or mutual TLS with `cert` + `key`) with it.
 * @throws ValidationError `CONFIG_INVALID` when only one of `cert` and `key` is given.
 */
export function clientCredentials(tls: GrpcClientTlsOptions | undefined): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ValidationError('CONFIG_INVALID', 'tls.cert and tls.key must be given together');
  }
  const credentials = grpc.credentials.createSsl(
    tls.ca === undefined ? null : buf(tls.ca),
    tls.key === undefined ? null : buf(tls.key),
    tls.cert === undefined ? null : buf(tls.cert),
  );
  return { credentials, options: tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {} };
}

/**
 * Server credentials: plaintext without `tls`.
 * @throws ValidationError `CONFIG_INVALID` when `requireClientCert` is set without `ca`.
 */
export function serverCredentials(tls: GrpcServerTlsOptions | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (tls.requireClientCert && tls.ca === undefined) {
    throw new ValidationError('CONFIG_INVALID', 'tls.requireClientCert needs tls.ca to verify client certificates');
  }
  return grpc.ServerCredentials.createSsl(
    tls.ca === undefined ? null : buf(tls.ca),
    [{ private_key: buf(tls.key), cert_chain: buf(tls.cert) }],
    tls.requireClientCert ?? false,
  );
}
