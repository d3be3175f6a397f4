// SPDX-License-Identifier: Apache-2.0
// TLS, mutual TLS and caller identity for every SW4RM server. One credentials helper for servers and one for
// clients; an Authenticator that names the caller from its client certificate (mutual TLS) or from a JWT of
// @ecps/trust in the `authorization: Bearer` metadata, and refuses calls that act for another agent.
import type { PeerCertificate } from 'node:tls';
import type { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import { ServerCredentials, credentials as grpcCredentials } from '@grpc/grpc-js';
import { EcpsError, ValidationError } from '@ecps/core';
import type { VerifyTokenOptions, verifyToken as VerifyToken } from '@ecps/trust';

// loaded on first use (and kept out of bundlers' static graph): deployments without JWT identities never load
// @ecps/trust and its JOSE library
const TRUST_MODULE = '@ecps/trust';
let trust: Promise<{ verifyToken: typeof VerifyToken }> | undefined;

/** Server-side TLS material (PEM). */
export interface ServerTlsOptions {
  cert: string | Uint8Array;
  key: string | Uint8Array;
  /** CA bundle that signs client certificates; required for mutual TLS. */
  ca?: string | Uint8Array;
  /** Mutual TLS: refuse connections without a client certificate signed by `ca`. Default: true when `ca` is set. */
  requireClientCertificate?: boolean;
}

/** Client-side TLS material (PEM). */
export interface ClientTlsOptions {
  /** CA bundle that signs the server certificate (system roots when absent). */
  ca?: string | Uint8Array;
  /** Client certificate and key for mutual TLS. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
}

const buf = (v: string | Uint8Array | undefined) => (v === undefined ? null : Buffer.from(v));

/**
 * grpc-js server credentials: insecure without `tls`, TLS with it, mutual TLS when a client CA is given.
 * @throws ValidationError CONFIG_INVALID when mutual TLS is asked for without a CA.
 */
export function serverCredentials(tls?: ServerTlsOptions): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const requireClient = tls.requireClientCertificate ?? tls.ca !== undefined;
  if (requireClient && tls.ca === undefined) throw new ValidationError('CONFIG_INVALID', 'mutual TLS needs the CA of the client certificates (ca)');
  return ServerCredentials.createSsl(buf(tls.ca), [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], requireClient);
}

/** grpc-js channel credentials: insecure without `tls`, else TLS (with a client certificate for mutual TLS). */
export function clientCredentials(tls?: ClientTlsOptions): ChannelCredentials {
  if (!tls) return grpcCredentials.createInsecure();
  return grpcCredentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
}

/** How callers are identified. With neither option set, calls are anonymous and identity fields are claims. */
export interface AuthOptions {
  /** Identify callers by their verified client certificate (servers must use mutual TLS). */
  certificates?: boolean;
  /** Identify callers without a certificate by a JWT (`authorization: Bearer <token>`), verified with @ecps/trust. */
  jwt?: VerifyTokenOptions;
  /** Identities allowed to act for any agent (operators, the hub's own services). */
  admins?: readonly string[];
  /** The agent id a client certificate proves; default its subject CN. */
  identityOf?(certificate: PeerCertificate): string | undefined;
}

/** What identification needs of a server call (any grpc-js server call has it). */
export interface IdentifiableCall {
  readonly metadata: Metadata;
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}

/** Resolves and checks caller identities. */
export interface Authenticator {
  /** True when calls must carry an identity. */
  readonly enabled: boolean;
  /**
   * The caller's identity, or undefined when authentication is off.
   * @throws EcpsError UNAUTHENTICATED when it is on and the call proves no identity.
   */
  identify(call: IdentifiableCall): Promise<string | undefined>;
  /**
   * Checks that `identity` may act as `agentId` (itself, or an admin). No-op when authentication is off.
   * @throws EcpsError PERMISSION_DENIED otherwise.
   */
  authorize(identity: string | undefined, agentId: string, what: string): void;
  /** Checks that `identity` is an admin. No-op when authentication is off. @throws EcpsError PERMISSION_DENIED otherwise. */
  authorizeAdmin(identity: string | undefined, what: string): void;
}

const defaultIdentityOf = (cert: PeerCertificate) => {
  const cn = cert.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn;
};

/**
 * Builds an {@link Authenticator} from options (authentication is off when neither source is configured).
 * @throws ValidationError CONFIG_INVALID for JWT identities without an expected issuer and audience.
 */
export function createAuthenticator(options: AuthOptions = {}): Authenticator {
  const jwt = options.jwt;
  if (jwt && ((jwt.issuer === undefined && !jwt.allowAnyIssuer) || (jwt.audience === undefined && !jwt.allowAnyAudience))) {
    throw new ValidationError('CONFIG_INVALID', 'JWT identities need the expected issuer and audience (or an explicit allowAny… opt-out)');
  }
  const enabled = Boolean(options.certificates || options.jwt);
  const admins = new Set(options.admins ?? []);
  const identityOf = options.identityOf ?? defaultIdentityOf;
  return {
    enabled,
    async identify(call) {
      if (!enabled) return undefined;
      if (options.certificates) {
        const cert = call.getAuthContext().sslPeerCertificate;
        if (cert && Object.keys(cert).length > 0) {
          const id = identityOf(cert);
          if (id) return id;
        }
      }
      if (options.jwt) {
        const header = call.metadata.get('authorization')[0];
        const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
        if (match) {
          trust ??= import(TRUST_MODULE) as Promise<{ verifyToken: typeof VerifyToken }>;
          const { verifyToken } = await trust;
          try {
            return (await verifyToken(match[1]!, options.jwt)).id;
          } catch (err) {
            throw new EcpsError('UNAUTHENTICATED', `bearer token rejected: ${(err as Error).message}`, { cause: err });
          }
        }
      }
      throw new EcpsError('UNAUTHENTICATED', 'the call proves no identity (client certificate or bearer token required)');
    },
    authorize(identity, agentId, what) {
      if (!enabled || identity === undefined) return;
      if (identity === agentId || admins.has(identity)) return;
      throw new EcpsError('PERMISSION_DENIED', `${identity} may not ${what} for agent ${agentId || '(empty)'}`);
    },
    authorizeAdmin(identity, what) {
      if (!enabled || identity === undefined || admins.has(identity)) return;
      throw new EcpsError('PERMISSION_DENIED', `${identity} may not ${what} (admins only)`);
    },
  };
}

/** The authenticator that lets every call through anonymously. */
export const NO_AUTH: Authenticator = createAuthenticator();
