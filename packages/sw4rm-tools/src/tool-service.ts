// SPDX-License-Identifier: Apache-2.0
// ToolService (spec §3.14): Call → one final frame; CallStream → frames with increasing frame_no, the last one
// final (also after a cancel); Cancel → CANCELLED | NOT_FOUND | ALREADY_COMPLETED. PRIVILEGED calls need a
// person's approval (HITL TOOL_PRIVILEGE_ESCALATION); tools that need a worktree run in the caller's.
import type { ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger } from '@ecps/core';
import { NO_AUTH, grpcStatusOf } from '@ecps/sw4rm';
import type { Authenticator, IdentifiableCall } from '@ecps/sw4rm';
import type { ToolCall, ToolError, ToolFrame } from '@ecps/sw4rm/proto';
import type { ToolCatalog } from './tool-catalog';
import type { LocalTools } from './local-tools';
import { ToolRunError, effectivePolicy } from './local-tools';

/** Options of {@link ToolService}. */
export interface ToolServiceOptions {
  catalog: ToolCatalog;
  /** Executables of the local provider. */
  local: LocalTools;
  /** Provider id of the local tools; default `local` (also used when a call names no provider). */
  localProviderId?: string;
  /** The bound worktree of an agent (for `needs_worktree` tools), or undefined when it has none. */
  workdirOf?(agentId: string): string | undefined;
  /** Asks a person to allow a PRIVILEGED call; resolve true to run it. Without it PRIVILEGED calls are refused. */
  approvePrivileged?(call: ToolCall, agentId: string): Promise<boolean>;
  /** Finished call ids remembered for Cancel's ALREADY_COMPLETED; default 1000. */
  rememberFinished?: number;
  logger?: Logger;
}

const AGENT_HEADER = 'sw4rm-agent-id';

/** ToolService semantics over the catalog and the local tools. */
export class ToolService {
  private readonly running = new Map<string, AbortController>();
  private readonly finished = new Set<string>();
  private readonly logger: Logger;

  constructor(private readonly options: ToolServiceOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Runs a call and returns its single final frame.
   * @throws ValidationError INVALID_ARGUMENT; EcpsError NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, CONFLICT
   *   (worktree_not_bound), UNSUPPORTED; ToolRunError (timeouts, budgets, cancellation, failures).
   */
  async call(call: ToolCall, agentId = ''): Promise<ToolFrame> {
    const r = await this.execute(call, agentId);
    return { callId: call.callId, frameNo: 1n, final: true, contentType: r.contentType, data: r.stdout, summary: new TextEncoder().encode(r.summary) };
  }

  /** Runs a call, streaming stdout chunks as frames; the final frame (also after a cancel) carries the summary. */
  async callStream(call: ToolCall, write: (frame: ToolFrame) => void, agentId = ''): Promise<void> {
    let frameNo = 0n;
    const frame = (data: Uint8Array, final: boolean, summary: string, contentType = '') =>
      write({ callId: call.callId, frameNo: ++frameNo, final, contentType, data, summary: new TextEncoder().encode(summary) });
    try {
      const r = await this.execute(call, agentId, (chunk) => frame(chunk, false, ''));
      frame(new Uint8Array(), true, r.summary, r.contentType);
    } catch (err) {
      if (err instanceof ToolRunError && err.failure === 'CANCELLED') return frame(new Uint8Array(), true, err.message);
      throw err;
    }
  }

  /** Cancel (best effort). */
  async cancel(call: ToolCall): Promise<ToolError> {
    const running = this.running.get(call.callId);
    if (running) {
      running.abort();
      return { callId: call.callId, errorCode: 'CANCELLED', message: 'the call was cancelled' };
    }
    if (this.finished.has(call.callId)) return { callId: call.callId, errorCode: 'ALREADY_COMPLETED', message: 'the call had already finished' };
    return { callId: call.callId, errorCode: 'NOT_FOUND', message: `no call ${call.callId}` };
  }

  /** grpc-js handlers (CallStream is server-streaming); the caller's agent id is its identity, else metadata `sw4rm-agent-id`. */
  grpcImplementation(auth: Authenticator = NO_AUTH): UntypedServiceImplementation {
    const agentOf = async (call: IdentifiableCall) => (await auth.identify(call)) ?? String(call.metadata.get(AGENT_HEADER)[0] ?? '');
    const fail = (err: unknown) => ({ code: grpcStatusOf(err), details: err instanceof Error ? err.message : String(err) }) as never;
    return {
      call: (c: ServerUnaryCall<ToolCall, ToolFrame>, cb: sendUnaryData<ToolFrame>) => {
        agentOf(c)
          .then((agent) => this.call(c.request, agent))
          .then(
            (f) => cb(null, f),
            (err: unknown) => cb(fail(err), null),
          );
      },
      callStream: (c: ServerWritableStream<ToolCall, ToolFrame>) => {
        const controller = { cancelled: false };
        c.on('cancelled', () => {
          controller.cancelled = true;
          this.running.get(c.request.callId)?.abort();
        });
        agentOf(c)
          .then((agent) => this.callStream(c.request, (f) => !controller.cancelled && c.write(f), agent))
          .then(
            () => c.end(),
            (err: unknown) => c.emit('error', fail(err)),
          );
      },
      cancel: (c: ServerUnaryCall<ToolCall, ToolError>, cb: sendUnaryData<ToolError>) => {
        auth
          .identify(c)
          .then(() => this.cancel(c.request))
          .then(
            (r) => cb(null, r),
            (err: unknown) => cb(fail(err), null),
          );
      },
    };
  }

  private async execute(call: ToolCall, agentId: string, onData?: (chunk: Uint8Array) => void) {
    if (!call.callId || !call.toolName) throw new ValidationError('INVALID_ARGUMENT', 'call_id and tool_name are required');
    if (this.running.has(call.callId)) throw new EcpsError('ALREADY_EXISTS', `call ${call.callId} is running`);
    const provider = call.providerId || (this.options.localProviderId ?? 'local');
    const descriptor = this.options.catalog.find(provider, call.toolName);
    if (!descriptor) throw new EcpsError('NOT_FOUND', `tool ${provider}/${call.toolName} is not registered`);
    if (provider !== (this.options.localProviderId ?? 'local') || !this.options.local.has(call.toolName)) {
      throw new EcpsError('CONFLICT', `provider_not_executable: ${provider} has no executor on this hub`);
    }
    const policy = effectivePolicy(call, descriptor);
    let cwd: string | undefined;
    if (policy.needsWorktree) {
      cwd = agentId ? this.options.workdirOf?.(agentId) : undefined;
      if (!cwd) throw new EcpsError('CONFLICT', `worktree_not_bound: ${agentId || 'the caller'} has no bound worktree`);
    }
    if (policy.privilege === 'PRIVILEGED') {
      const approved = (await this.options.approvePrivileged?.(call, agentId)) ?? false;
      if (!approved) throw new EcpsError('PERMISSION_DENIED', `privilege_escalation_denied: ${call.toolName}`);
    }
    const controller = new AbortController();
    this.running.set(call.callId, controller);
    try {
      return await this.options.local.run(call, { ...(cwd ? { cwd } : {}), ...(onData ? { onData } : {}), signal: controller.signal });
    } finally {
      this.running.delete(call.callId);
      this.finished.add(call.callId);
      if (this.finished.size > (this.options.rememberFinished ?? 1000)) this.finished.delete(this.finished.values().next().value!);
      this.logger.debug('tool call finished', { callId: call.callId, tool: call.toolName });
    }
  }
}


