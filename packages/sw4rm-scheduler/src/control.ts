// SPDX-License-Identifier: Apache-2.0
// CONTROL commands as envelopes ([ours] `application/vnd.sw4rm.control+json;v=1`), and agent reports back.
import { CONTENT_TYPES, MessageType, buildEnvelope, contentTypeMatches, normaliseEnum } from '@ecps/sw4rm';
import type { Envelope } from '@ecps/sw4rm';
import type { ControlCommand } from './scheduler';

/** The CONTROL envelope for a command (`to` names the agent too; the hub delivers it to that agent only). */
export function controlEnvelope(producerId: string, command: ControlCommand): Envelope {
  const body: Record<string, unknown> = { op: command.op, to: command.agentId };
  if (command.taskId) body['task_id'] = command.taskId;
  if (command.graceMs !== undefined) body['grace_ms'] = command.graceMs;
  if (command.reason) body['reason'] = command.reason;
  if (command.params?.length) body['params_b64'] = Buffer.from(command.params).toString('base64');
  if (command.contentType) body['params_content_type'] = command.contentType;
  return buildEnvelope({ producerId, messageType: MessageType.CONTROL, contentType: CONTENT_TYPES.control, payload: JSON.stringify(body), correlationId: command.taskId || undefined });
}

/** A parsed CONTROL command addressed to `agentId`, or undefined (not CONTROL, not for us, malformed). */
export function parseControl(envelope: Envelope, agentId: string): (ControlCommand & { params?: Uint8Array }) | undefined {
  if (normaliseEnum(MessageType, envelope.messageType) !== MessageType.CONTROL) return undefined;
  if (!contentTypeMatches(envelope.contentType, CONTENT_TYPES.control)) return undefined;
  try {
    const o = JSON.parse(new TextDecoder().decode(envelope.payload)) as Record<string, unknown>;
    if (o['to'] !== agentId || typeof o['op'] !== 'string') return undefined;
    const cmd: ControlCommand = { op: o['op'] as ControlCommand['op'], agentId };
    if (typeof o['task_id'] === 'string') cmd.taskId = o['task_id'];
    if (typeof o['grace_ms'] === 'number') cmd.graceMs = o['grace_ms'];
    if (typeof o['reason'] === 'string') cmd.reason = o['reason'];
    if (typeof o['params_b64'] === 'string') cmd.params = new Uint8Array(Buffer.from(o['params_b64'], 'base64'));
    return cmd;
  } catch {
    return undefined;
  }
}

/** What an agent reports: a task's end (COMPLETED / FAILED / YIELDED) or, as RUNNING [ours], progress (token usage). */
export type ReportStatus = 'COMPLETED' | 'FAILED' | 'YIELDED' | 'RUNNING';

/** A parsed agent report. */
export interface AgentReport {
  agentId: string;
  taskId: string;
  status: ReportStatus;
  logs?: string;
  output?: string;
  /** Tokens used since the previous report ([ours] `diagnostics.tokens_used`). */
  tokensUsed?: number;
  /** The handoff the usage counts against ([ours] `diagnostics.handoff_id`), when it is not (only) a task's. */
  handoffId?: string;
}

/** Extra fields of {@link reportEnvelope}. */
export interface ReportExtras {
  output?: string;
  tokensUsed?: number;
  handoffId?: string;
}

/**
 * An agent report (`application/vnd.sw4rm.agent.report+json;v=1`): `{schema_version, stage, status, task_id, logs,
 * diagnostics}`; `output` (e.g. a workflow node's JSON result), `tokens_used` and `handoff_id` travel in `diagnostics`.
 */
export function reportEnvelope(agentId: string, taskId: string, status: ReportStatus, logs = '', { output, tokensUsed, handoffId }: ReportExtras = {}): Envelope {
  const diagnostics: Record<string, unknown> = {};
  if (output !== undefined) diagnostics['output'] = output;
  if (tokensUsed !== undefined) diagnostics['tokens_used'] = tokensUsed;
  if (handoffId !== undefined) diagnostics['handoff_id'] = handoffId;
  return buildEnvelope({
    producerId: agentId,
    messageType: MessageType.DATA,
    contentType: CONTENT_TYPES.agentReport,
    correlationId: taskId || handoffId || undefined,
    payload: JSON.stringify({ schema_version: 1, stage: 'task', status, task_id: taskId, logs, diagnostics }),
  });
}

const STATUSES: ReadonlySet<string> = new Set(['COMPLETED', 'FAILED', 'YIELDED', 'RUNNING']);

/** Reads an agent report, or undefined (not a report, malformed, or a negative / fractional `tokens_used`). */
export function parseReport(envelope: Envelope): AgentReport | undefined {
  if (!contentTypeMatches(envelope.contentType, CONTENT_TYPES.agentReport)) return undefined;
  try {
    const o = JSON.parse(new TextDecoder().decode(envelope.payload)) as Record<string, unknown>;
    const status = o['status'];
    if (typeof o['task_id'] !== 'string' || typeof status !== 'string' || !STATUSES.has(status)) return undefined;
    const out: AgentReport = { agentId: envelope.producerId, taskId: o['task_id'], status: status as ReportStatus };
    if (typeof o['logs'] === 'string' && o['logs']) out.logs = o['logs'];
    const diagnostics = o['diagnostics'] as Record<string, unknown> | undefined;
    if (diagnostics && typeof diagnostics['output'] === 'string') out.output = diagnostics['output'];
    const tokens = diagnostics?.['tokens_used'];
    if (tokens !== undefined) {
      if (typeof tokens !== 'number' || !Number.isSafeInteger(tokens) || tokens < 0) return undefined;
      out.tokensUsed = tokens;
    }
    if (diagnostics && typeof diagnostics['handoff_id'] === 'string' && diagnostics['handoff_id']) out.handoffId = diagnostics['handoff_id'];
    return out;
  } catch {
    return undefined;
  }
}
