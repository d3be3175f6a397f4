// SPDX-License-Identifier: Apache-2.0
// The attestation handshake over any ECPS Transport: a controller challenges a device, the device answers with a TPM
// quote report, and the controller admits the device (secureTransport's `admit`) only while a verified quote is fresh.
import { systemClock, uuidv4, cryptoRandom, nodeSource, type Clock, type Transport, type Subscription } from '@ecps/core';
import { TrustError, type MessageContext } from '@ecps/trust';
import type { BootPolicy } from './measured-boot';
import { decodeReport, encodeReport } from './report-json';
import type { AttestOptions, TpmKeyProvider } from './tpm-key-provider';
import { QuoteVerifier, type EnrolledAttestationKey, type VerifiedQuote } from './verifier';

/** The service a device answers challenges on: `ecps/trust/attest/<node id>`. */
export function attestationService(nodeId: string): string {
  return `ecps/trust/attest/${nodeId}`;
}

export interface ServeAttestationOptions extends AttestOptions {
  /** This device's node id (the principal the controller knows it as). */
  nodeId: string;
  provider: Pick<TpmKeyProvider, 'attest'>;
  /** Attestation key label. Default `ak`. */
  akLabel?: string;
}

/**
 * Answers challenges on {@link attestationService}: the request's data is the nonce, the reply's data the report
 * (the spec's JSON form) from `provider.attest`. Serve it on the device's secure transport, so the reply is signed
 * by the device's identity key too; at AUTHORIZED the controller needs `call:ecps/trust/attest/<node id>`.
 */
export function serveAttestation(transport: Transport, options: ServeAttestationOptions): Promise<Subscription> {
  return transport.serve(attestationService(options.nodeId), async (request) => {
    const report = await options.provider.attest(options.akLabel ?? 'ak', request.data, options.pcrs ? { pcrs: options.pcrs } : {});
    return {
      id: uuidv4(cryptoRandom),
      source: nodeSource(options.nodeId),
      type: 'ecps.trust.attestation',
      datacontenttype: 'application/json',
      data: encodeReport(report),
    };
  });
}

/** What a controller expects of one device. */
export interface AttestedDevice {
  readonly ak: EnrolledAttestationKey;
  readonly policy?: BootPolicy;
}

export interface AttestationGateOptions {
  /** The controller's node id (the source of its challenges). */
  nodeId: string;
  /** The devices that must attest before they are admitted, by principal id. Other principals are not gated. */
  devices: ReadonlyMap<string, AttestedDevice>;
  /** How long one verified quote admits its device. Default 10 minutes. */
  admissionTtlMs?: number;
  /** Deadline of a challenge. Default 10 s. */
  timeoutMs?: number;
  /** Issues the challenges. Default a new QuoteVerifier with the same clock. */
  verifier?: QuoteVerifier;
  /** Told about each admission and each refusal. */
  onDecision?: (principalId: string, outcome: { admitted: true; quote: VerifiedQuote } | { admitted: false; error: unknown }) => void;
  clock?: Clock;
}

/**
 * Admits a device only after a fresh TPM quote of its boot state verified against its enrolled attestation key and
 * boot policy. Pass `gate.admit` as secureTransport's `admit`: until then (and after `admissionTtlMs`, or a failed
 * re-attestation) every message of a gated principal is rejected, except its answer to the gate's challenge.
 */
export class AttestationGate {
  private readonly admittedUntil = new Map<string, number>();
  private readonly clock: Clock;
  private readonly verifier: QuoteVerifier;

  constructor(private readonly options: AttestationGateOptions) {
    this.clock = options.clock ?? systemClock;
    this.verifier = options.verifier ?? new QuoteVerifier({ clock: this.clock });
  }

  /** For secureTransport's `admit` option. */
  readonly admit = (principalId: string, ctx: MessageContext): boolean => {
    if (!this.options.devices.has(principalId)) return true;
    if (ctx.direction === 'reply' && ctx.target === attestationService(principalId)) return true;
    return this.isAdmitted(principalId);
  };

  /** Whether `principalId` holds a verified, unexpired quote (or is not gated). */
  isAdmitted(principalId: string): boolean {
    if (!this.options.devices.has(principalId)) return true;
    return (this.admittedUntil.get(principalId) ?? -Infinity) > this.clock.now();
  }

  /** Ends an admission now. */
  revoke(principalId: string): void {
    this.admittedUntil.delete(principalId);
  }

  /**
   * Challenges `principalId` over `transport` (the controller's secure transport) and admits it for
   * `admissionTtlMs` when its quote verifies; any failure ends a current admission.
   * @throws TrustError `NOT_FOUND` for a principal that is not gated, `ATTESTATION_FAILED` (`details.reason` from
   *   `verifyQuoteReport`), `DECODE_ERROR`; the transport's errors (`TIMEOUT`, `REMOTE_ERROR`).
   */
  async attest(transport: Transport, principalId: string): Promise<VerifiedQuote> {
    const device = this.options.devices.get(principalId);
    if (!device) throw new TrustError('NOT_FOUND', `${principalId} is not a gated device`);
    try {
      const nonce = this.verifier.challenge();
      const reply = await transport.request(
        attestationService(principalId),
        { id: uuidv4(cryptoRandom), source: nodeSource(this.options.nodeId), type: 'ecps.trust.challenge', data: nonce },
        { timeoutMs: this.options.timeoutMs ?? 10_000 },
      );
      const quote = this.verifier.verify(decodeReport(reply.data), { ak: device.ak, ...(device.policy ? { policy: device.policy } : {}) });
      this.admittedUntil.set(principalId, this.clock.now() + (this.options.admissionTtlMs ?? 600_000));
      this.options.onDecision?.(principalId, { admitted: true, quote });
      return quote;
    } catch (error) {
      this.revoke(principalId);
      this.options.onDecision?.(principalId, { admitted: false, error });
      throw error;
    }
  }
}
