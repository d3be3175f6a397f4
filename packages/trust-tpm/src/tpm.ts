// SPDX-License-Identifier: Apache-2.0
// TPM 2.0 commands (TPM 2.0 Library, Part 3) marshalled in TypeScript: the handful this package needs, each a
// typed method. Not locked: callers run multi-command operations inside `exclusive` so that transient objects are
// loaded, used and flushed without another operation filling the TPM's few object slots in between.
import { systemClock, type Clock } from '@ecps/core';
import {
  TPM_CAP_HANDLES,
  TPM_CC,
  TPM_RH,
  TPM_SE_POLICY,
  TPM_ST,
  TPM_SU_CLEAR,
  TPMA_SESSION_CONTINUE,
  TPM_ALG,
} from './constants';
import { RETRYABLE_RCS, TPM_RC_INITIALIZE, TpmError } from './errors';
import { TpmReader, TpmWriter } from './marshal';
import { readPcrSelection, writePcrSelection, type PcrSelection } from './pcr-selection';
import type { TpmTransport } from './transport';

/** One authorization of a command: a session handle, its nonce, attributes and HMAC (or password). */
export interface Authorization {
  readonly handle: number;
  readonly nonce?: Uint8Array;
  readonly attributes?: number;
  readonly hmac?: Uint8Array;
}

/** The password session (`TPM_RS_PW`) with an authorization value (empty by default). */
export function passwordAuth(value: Uint8Array = new Uint8Array(0)): Authorization {
  return { handle: TPM_RH.PW, attributes: TPMA_SESSION_CONTINUE, hmac: value };
}

/** A TPMT_TK_HASHCHECK: proof that the TPM hashed data that does not start with TPM_GENERATED_VALUE. */
export interface HashTicket {
  readonly hierarchy: number;
  readonly digest: Uint8Array;
}

const NULL_TICKET: HashTicket = { hierarchy: TPM_RH.NULL, digest: new Uint8Array(0) };
/** Largest TPM2B_MAX_BUFFER every TPM accepts (MAX_DIGEST_BUFFER is at least 1024). */
const MAX_BUFFER = 1024;

interface Response {
  readonly handles: number[];
  readonly params: TpmReader;
}

export class Tpm {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;

  constructor(
    readonly transport: TpmTransport,
    options: { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  /** Runs `operation` after every operation queued before it and before any queued after it. */
  exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.tail.then(operation, operation);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends one command and parses the response header. Retries `TPM_RC_YIELDED`, `TPM_RC_TESTING` and
   * `TPM_RC_RETRY` up to 8 times. @throws TpmError for any other non-zero response code.
   */
  private async execute(
    name: string,
    cc: number,
    handles: readonly number[],
    auths: readonly Authorization[],
    params: Uint8Array,
    responseHandles = 0,
    okCodes: readonly number[] = [],
  ): Promise<Response> {
    const body = new TpmWriter();
    for (const h of handles) body.u32(h);
    if (auths.length > 0) {
      const area = new TpmWriter();
      for (const a of auths) area.u32(a.handle).sized(a.nonce ?? new Uint8Array(0)).u8(a.attributes ?? 0).sized(a.hmac ?? new Uint8Array(0));
      const bytes = area.bytes();
      body.u32(bytes.length).raw(bytes);
    }
    body.raw(params);
    const payload = body.bytes();
    const command = new TpmWriter()
      .u16(auths.length > 0 ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS)
      .u32(10 + payload.length)
      .u32(cc)
      .raw(payload)
      .bytes();
    for (let attempt = 0; ; attempt++) {
      const response = await this.transport.transmit(command);
      const r = new TpmReader(response, `${name} response`);
      const tag = r.u16();
      r.u32(); // size, checked by the transport
      const rc = r.u32();
      if (rc !== 0 && okCodes.includes(rc)) return { handles: [], params: new TpmReader(new Uint8Array(0)) };
      if (RETRYABLE_RCS.has(rc) && attempt < 8) {
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, 10 * 2 ** attempt));
        continue;
      }
      if (rc !== 0) throw TpmError.fromResponse(name, rc);
      const out: number[] = [];
      for (let i = 0; i < responseHandles; i++) out.push(r.u32());
      if (tag === TPM_ST.SESSIONS) {
        const size = r.u32();
        return { handles: out, params: new TpmReader(r.raw(size), `${name} parameters`) };
      }
      return { handles: out, params: new TpmReader(r.raw(r.remaining), `${name} parameters`) };
    }
  }

  /** TPM2_Startup(CLEAR); a TPM already started is fine. */
  async startup(): Promise<void> {
    await this.execute('TPM2_Startup', TPM_CC.Startup, [], [], new TpmWriter().u16(TPM_SU_CLEAR).bytes(), 0, [TPM_RC_INITIALIZE]);
  }

  /** Handles of a range currently loaded (`TPM_CAP_HANDLES`). */
  async handles(first: number): Promise<number[]> {
    const out: number[] = [];
    let from = first;
    for (;;) {
      const { params } = await this.execute('TPM2_GetCapability', TPM_CC.GetCapability, [], [], new TpmWriter().u32(TPM_CAP_HANDLES).u32(from).u32(64).bytes());
      const more = params.u8();
      params.u32(); // capability
      const count = params.u32();
      let last = from;
      for (let i = 0; i < count; i++) {
        last = params.u32();
        if (last >>> 24 === first >>> 24) out.push(last);
      }
      if (!more || count === 0 || last >>> 24 !== first >>> 24) return out;
      from = last + 1;
    }
  }

  /** TPM2_FlushContext: frees a transient object or a session. */
  async flush(handle: number): Promise<void> {
    await this.execute('TPM2_FlushContext', TPM_CC.FlushContext, [], [], new TpmWriter().u32(handle).bytes());
  }

  /** TPM2_CreatePrimary: derives a key from a hierarchy's seed and `template` (a marshalled TPMT_PUBLIC). */
  async createPrimary(hierarchy: number, auth: Authorization, template: Uint8Array): Promise<{ handle: number; publicArea: Uint8Array; name: Uint8Array }> {
    const { handles, params } = await this.execute('TPM2_CreatePrimary', TPM_CC.CreatePrimary, [hierarchy], [auth], creationParams(template), 1);
    const publicArea = params.sized();
    params.sized(); // creationData
    params.sized(); // creationHash
    skipTicket(params);
    return { handle: handles[0]!, publicArea, name: params.sized() };
  }

  /** TPM2_Create: a key under a loaded parent; returns its wrapped private part (TPM2B_PRIVATE body) and public area. */
  async create(parent: number, auth: Authorization, template: Uint8Array): Promise<{ privateArea: Uint8Array; publicArea: Uint8Array }> {
    const { params } = await this.execute('TPM2_Create', TPM_CC.Create, [parent], [auth], creationParams(template));
    const privateArea = params.sized();
    return { privateArea, publicArea: params.sized() };
  }

  /** TPM2_Load: loads a key made by `create` under the same parent. */
  async load(parent: number, auth: Authorization, privateArea: Uint8Array, publicArea: Uint8Array): Promise<{ handle: number; name: Uint8Array }> {
    const { handles, params } = await this.execute(
      'TPM2_Load',
      TPM_CC.Load,
      [parent],
      [auth],
      new TpmWriter().sized(privateArea).sized(publicArea).bytes(),
      1,
    );
    return { handle: handles[0]!, name: params.sized() };
  }

  /** TPM2_ReadPublic. */
  async readPublic(handle: number): Promise<{ publicArea: Uint8Array; name: Uint8Array; qualifiedName: Uint8Array }> {
    const { params } = await this.execute('TPM2_ReadPublic', TPM_CC.ReadPublic, [handle], [], new Uint8Array(0));
    return { publicArea: params.sized(), name: params.sized(), qualifiedName: params.sized() };
  }

  /**
   * TPM2_Sign of a digest with the key's own scheme; returns the marshalled TPMT_SIGNATURE. A restricted key needs
   * the ticket from {@link hashInTpm}; an unrestricted one signs any digest.
   */
  async sign(handle: number, auth: Authorization, digest: Uint8Array, ticket: HashTicket = NULL_TICKET): Promise<Uint8Array> {
    const params = new TpmWriter().sized(digest).u16(TPM_ALG.NULL).u16(TPM_ST.HASHCHECK).u32(ticket.hierarchy).sized(ticket.digest).bytes();
    const response = await this.execute('TPM2_Sign', TPM_CC.Sign, [handle], [auth], params);
    return response.params.raw(response.params.remaining);
  }

  /** TPM2_Quote: the TPM signs the digest of `selection` with `qualifyingData` (the verifier's nonce) in extraData. */
  async quote(handle: number, auth: Authorization, qualifyingData: Uint8Array, selection: readonly PcrSelection[]): Promise<{ attest: Uint8Array; signature: Uint8Array }> {
    const w = new TpmWriter().sized(qualifyingData).u16(TPM_ALG.NULL);
    writePcrSelection(w, selection);
    const { params } = await this.execute('TPM2_Quote', TPM_CC.Quote, [handle], [auth], w.bytes());
    const attest = params.sized();
    return { attest, signature: params.raw(params.remaining) };
  }

  /** TPM2_PCR_Extend of one bank: PCR = H(PCR ‖ digest). */
  async pcrExtend(pcr: number, auth: Authorization, hash: number, digest: Uint8Array): Promise<void> {
    await this.execute('TPM2_PCR_Extend', TPM_CC.PCR_Extend, [pcr], [auth], new TpmWriter().u32(1).u16(hash).raw(digest).bytes());
  }

  /** TPM2_PCR_Read of up to 8 PCRs; returns the selection the TPM answered for and the values in its order. */
  async pcrRead(selection: readonly PcrSelection[]): Promise<{ updateCounter: number; selection: PcrSelection[]; values: Uint8Array[] }> {
    const w = new TpmWriter();
    writePcrSelection(w, selection);
    const { params } = await this.execute('TPM2_PCR_Read', TPM_CC.PCR_Read, [], [], w.bytes());
    const updateCounter = params.u32();
    const out = readPcrSelection(params);
    const count = params.u32();
    const values: Uint8Array[] = [];
    for (let i = 0; i < count; i++) values.push(params.sized(64));
    return { updateCounter, selection: out, values };
  }

  /**
   * Hashes `data` inside the TPM (a hash sequence, so any length) and returns the digest with the ticket that lets a
   * restricted key sign it. The TPM gives no ticket for data that starts with TPM_GENERATED_VALUE, so such a
   * signature can never pass for a quote.
   */
  async hashInTpm(data: Uint8Array, hierarchy: number): Promise<{ digest: Uint8Array; ticket: HashTicket }> {
    const started = await this.execute(
      'TPM2_HashSequenceStart',
      TPM_CC.HashSequenceStart,
      [],
      [],
      new TpmWriter().sized(new Uint8Array(0)).u16(TPM_ALG.SHA256).bytes(),
      1,
    );
    const sequence = started.handles[0]!;
    try {
      let at = 0;
      for (; data.length - at > MAX_BUFFER; at += MAX_BUFFER) {
        await this.execute('TPM2_SequenceUpdate', TPM_CC.SequenceUpdate, [sequence], [passwordAuth()], new TpmWriter().sized(data.subarray(at, at + MAX_BUFFER)).bytes());
      }
      const { params } = await this.execute(
        'TPM2_SequenceComplete',
        TPM_CC.SequenceComplete,
        [sequence],
        [passwordAuth()],
        new TpmWriter().sized(data.subarray(at)).u32(hierarchy).bytes(),
      );
      const digest = params.sized();
      params.u16(); // tag
      return { digest, ticket: { hierarchy: params.u32(), digest: params.sized() } };
    } catch (error) {
      await this.flush(sequence).catch(() => undefined); // completed sequences are gone already
      throw error;
    }
  }

  /** TPM2_StartAuthSession of an unbound, unsalted SHA-256 policy session. */
  async startPolicySession(nonceCaller: Uint8Array): Promise<number> {
    const params = new TpmWriter().sized(nonceCaller).sized(new Uint8Array(0)).u8(TPM_SE_POLICY).u16(TPM_ALG.NULL).u16(TPM_ALG.SHA256).bytes();
    const { handles } = await this.execute('TPM2_StartAuthSession', TPM_CC.StartAuthSession, [TPM_RH.NULL, TPM_RH.NULL], [], params, 1);
    return handles[0]!;
  }

  /** TPM2_PolicySecret: satisfies a policy that needs the authorization of `authHandle` (e.g. the endorsement hierarchy). */
  async policySecret(authHandle: number, auth: Authorization, session: number): Promise<void> {
    const params = new TpmWriter().sized(new Uint8Array(0)).sized(new Uint8Array(0)).sized(new Uint8Array(0)).u32(0).bytes();
    await this.execute('TPM2_PolicySecret', TPM_CC.PolicySecret, [authHandle, session], [auth], params);
  }

  /**
   * TPM2_ActivateCredential: recovers the secret a verifier encrypted to `keyHandle` (the EK) for the object
   * `activateHandle` (the AK); the TPM releases it only if both are loaded in this TPM.
   */
  async activateCredential(
    activateHandle: number,
    activateAuth: Authorization,
    keyHandle: number,
    keyAuth: Authorization,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
  ): Promise<Uint8Array> {
    const { params } = await this.execute(
      'TPM2_ActivateCredential',
      TPM_CC.ActivateCredential,
      [activateHandle, keyHandle],
      [activateAuth, keyAuth],
      new TpmWriter().sized(credentialBlob).sized(secret).bytes(),
    );
    return params.sized();
  }
}

// inSensitive (empty userAuth and data), inPublic, outsideInfo (empty), creationPCR (none)
function creationParams(template: Uint8Array): Uint8Array {
  const sensitive = new TpmWriter().sized(new Uint8Array(0)).sized(new Uint8Array(0)).bytes();
  return new TpmWriter().sized(sensitive).sized(template).sized(new Uint8Array(0)).u32(0).bytes();
}

function skipTicket(r: TpmReader): void {
  r.u16();
  r.u32();
  r.sized();
}
