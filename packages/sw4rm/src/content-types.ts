// SPDX-License-Identifier: Apache-2.0
// SW4RM content types (spec §3.15).

export const CONTENT_TYPES = {
  json: 'application/json',
  octetStream: 'application/octet-stream',
  ack: 'application/vnd.sw4rm.ack+json;v=1',
  control: 'application/vnd.sw4rm.control+json;v=1',
  schedulerCommand: 'application/vnd.sw4rm.scheduler.command+json;v=1',
  schedulerSeed: 'application/vnd.sw4rm.scheduler.seed+json;v=1',
  agentReport: 'application/vnd.sw4rm.agent.report+json;v=1',
  intentQuery: 'application/vnd.sw4rm.intent.query+json',
  intentAction: 'application/vnd.sw4rm.intent.action+json',
  sharedContext: 'application/vnd.sw4rm.shared-context+json',
  negotiationProposal: 'application/vnd.sw4rm.negotiation.proposal+json',
  negotiationVote: 'application/vnd.sw4rm.negotiation.vote+json',
  toolCall: 'application/vnd.sw4rm.tool.call+json',
  toolResult: 'application/vnd.sw4rm.tool.result+json',
} as const;

/** A parsed content type: lower-cased `type/subtype`, its version (1 when absent) and other parameters. */
export interface ParsedContentType {
  readonly mediaType: string;
  readonly version: number;
  readonly params: ReadonlyMap<string, string>;
}

/** Parses `type/subtype[;k=v…]`; type/subtype compare case-insensitively, a missing `v` means 1. */
export function parseContentType(value: string): ParsedContentType {
  const [head = '', ...rest] = value.split(';');
  const params = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const v = Number(params.get('v') ?? '1');
  return { mediaType: head.trim().toLowerCase(), version: Number.isInteger(v) && v > 0 ? v : 1, params };
}

/** True when `value` names the same media type (and version) as `expected`. */
export function contentTypeMatches(value: string, expected: string): boolean {
  const a = parseContentType(value);
  const b = parseContentType(expected);
  return a.mediaType === b.mediaType && a.version === b.version;
}

/** True for `application/json` and every `+json` vendor type. */
export function isJsonContentType(value: string): boolean {
  const { mediaType } = parseContentType(value);
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}
