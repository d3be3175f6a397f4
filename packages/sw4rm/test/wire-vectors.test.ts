// SPDX-License-Identifier: Apache-2.0
// Protobuf maps keep their entry order on decode and re-encode (spec §2.4, checklist 1), integer-like keys
// included; map entries carry key and value as reference runtimes write them. Vectors: test/vectors/README.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { EffectivePolicy, HeartbeatRequest, WorkflowDefinition, WorkflowState } from '../src/proto';

interface Vector {
  name: string;
  message: 'HeartbeatRequest' | 'WorkflowDefinition' | 'EffectivePolicy' | 'WorkflowState';
  hex: string;
  maps: Record<string, string[]>;
}

const codecs = { HeartbeatRequest, WorkflowDefinition, EffectivePolicy, WorkflowState } as const;
const vectors = JSON.parse(readFileSync(join(import.meta.dirname, 'vectors', 'map-order.json'), 'utf8')) as Vector[];

describe('map entry order on the wire', () => {
  it.each(vectors.map((v) => [v.name, v] as const))('%s decodes with its map order and re-encodes byte-identically', (_name, v) => {
    const codec = codecs[v.message] as unknown as { decode(b: Uint8Array): Record<string, unknown>; encode(m: never): { finish(): Uint8Array } };
    const decoded = codec.decode(Buffer.from(v.hex, 'hex'));
    for (const [field, keys] of Object.entries(v.maps)) expect([field, [...(decoded[field] as Map<string, unknown>).keys()]]).toEqual([field, keys]);
    expect(Buffer.from(codec.encode(decoded as never).finish()).toString('hex')).toBe(v.hex);
  });

  it('keeps the order of a map built in code, integer-like keys included', () => {
    const m = HeartbeatRequest.fromPartial({ agentId: 'a', health: new Map([['10', 'x'], ['2', 'y'], ['1', '']]) });
    const back = HeartbeatRequest.decode(HeartbeatRequest.encode(m).finish());
    expect([...back.health.entries()]).toEqual([['10', 'x'], ['2', 'y'], ['1', '']]);
  });
});
