// SPDX-License-Identifier: Apache-2.0
// The ECPS message catalogue: each canonical message with its generated functions and CloudEvents type (spec §9).
import { EVENT_TYPES } from '@ecps/core';
import { Ack, EAP, LTP, LTPAck, LTPChunk, MCP, QueryReq } from '@ecps/proto';
import type { MessageFns } from './codecs';

export const ECPS_MESSAGES = {
  MCP: { fns: MCP as MessageFns<MCP>, eventType: EVENT_TYPES.mcp },
  LTP: { fns: LTP as MessageFns<LTP>, eventType: EVENT_TYPES.ltp },
  LTPChunk: { fns: LTPChunk as MessageFns<LTPChunk>, eventType: EVENT_TYPES.ltpChunk },
  LTPAck: { fns: LTPAck as MessageFns<LTPAck>, eventType: EVENT_TYPES.ltpAck },
  EAP: { fns: EAP as MessageFns<EAP>, eventType: EVENT_TYPES.eap },
  QueryReq: { fns: QueryReq as MessageFns<QueryReq>, eventType: EVENT_TYPES.mepQuery },
  Ack: { fns: Ack as MessageFns<Ack>, eventType: EVENT_TYPES.mepAck },
} as const;

export type MessageKind = keyof typeof ECPS_MESSAGES;

export interface MessageTypes {
  MCP: MCP;
  LTP: LTP;
  LTPChunk: LTPChunk;
  LTPAck: LTPAck;
  EAP: EAP;
  QueryReq: QueryReq;
  Ack: Ack;
}

/** The message kind a CloudEvents type carries (`ecps.stream.end` carries an Ack), if it is a canonical one. */
export function kindForEventType(type: string): MessageKind | undefined {
  if (type === EVENT_TYPES.streamEnd) return 'Ack';
  for (const [kind, entry] of Object.entries(ECPS_MESSAGES)) if (entry.eventType === type) return kind as MessageKind;
  return undefined;
}
