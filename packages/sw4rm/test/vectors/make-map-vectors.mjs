// SPDX-License-Identifier: Apache-2.0
// Writes map-order.json: SW4RM messages with protobuf maps encoded the way the reference runtimes (C++, upb, Go)
// do — fields in number order, defaults omitted outside maps, every map entry with both key and value (defaults
// included) — with map entries in a deliberate, non-sorted order that includes integer-like keys. Independent of
// the ts-proto code under test: it writes the wire format field by field. Run: node make-map-vectors.mjs
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';

const LEN = 2;
const VARINT = 0;
const tag = (w, field, type) => w.uint32((field << 3) | type);
const str = (w, field, v) => v && tag(w, field, LEN).string(v);
const u32 = (w, field, v) => v && tag(w, field, VARINT).uint32(v);
const enm = (w, field, v) => v && tag(w, field, VARINT).int32(v);
const msg = (w, field, write) => {
  tag(w, field, LEN).fork();
  write(w);
  w.join();
};
/** A map entry: key (1) and value (2) are always written, as reference runtimes do. */
const entry = (w, field, key, writeValue) =>
  msg(w, field, (e) => {
    tag(e, 1, LEN).string(key);
    writeValue(e);
  });
const strEntry = (w, field, [k, v]) => entry(w, field, k, (e) => tag(e, 2, LEN).string(v));
const timestamp = (w, field, seconds, nanos) =>
  msg(w, field, (t) => {
    if (seconds) tag(t, 1, VARINT).int64(seconds);
    if (nanos) tag(t, 2, VARINT).int32(nanos);
  });

function workflowNode(w, n) {
  str(w, 1, n.node_id);
  str(w, 2, n.agent_id);
  for (const d of n.dependencies ?? []) tag(w, 3, LEN).string(d);
  enm(w, 4, n.trigger_type ?? 0);
  for (const e of n.input_mapping ?? []) strEntry(w, 5, e);
  for (const e of n.output_mapping ?? []) strEntry(w, 6, e);
  for (const e of n.metadata ?? []) strEntry(w, 7, e);
}

const hex = (w) => Buffer.from(w.finish()).toString('hex');
const vectors = [];

{
  const health = [['10', 'cpu'], ['2', ''], ['zeta', '1'], ['1', 'disk'], ['', 'empty-key'], ['ü', 'utf8']];
  const w = new BinaryWriter();
  str(w, 1, 'agent-7');
  enm(w, 2, 4);
  for (const e of health) strEntry(w, 3, e);
  vectors.push({ name: 'heartbeat-health', message: 'HeartbeatRequest', hex: hex(w), maps: { health: health.map(([k]) => k) } });
}
{
  const nodes = [
    ['10', { node_id: '10', agent_id: 'a', trigger_type: 3, input_mapping: [['2', 'x'], ['1', 'y'], ['', '']] }],
    ['2', { node_id: '2', dependencies: ['10'], metadata: [['b', '1'], ['a', '2']] }],
    ['b', { node_id: 'b' }],
    ['1', {}],
  ];
  const metadata = [['9', 'nine'], ['10', 'ten'], ['x', '']];
  const w = new BinaryWriter();
  str(w, 1, 'wf');
  for (const [k, n] of nodes) entry(w, 2, k, (e) => msg(e, 2, (m) => workflowNode(m, n)));
  timestamp(w, 3, 1750000000, 5);
  for (const e of metadata) strEntry(w, 4, e);
  vectors.push({ name: 'workflow-definition', message: 'WorkflowDefinition', hex: hex(w), maps: { nodes: nodes.map(([k]) => k), metadata: metadata.map(([k]) => k) } });
}
{
  const applied = [['2', 1], ['1', 0], ['agent-a', 7]];
  const w = new BinaryWriter();
  msg(w, 1, (p) => u32(p, 1, 3));
  for (const [k, rounds] of applied) entry(w, 2, k, (e) => msg(e, 2, (m) => u32(m, 1, rounds)));
  vectors.push({ name: 'effective-policy', message: 'EffectivePolicy', hex: hex(w), maps: { applied: applied.map(([k]) => k) } });
}
{
  const states = [['3', 4], ['20', 0], ['1', 6]];
  const w = new BinaryWriter();
  str(w, 1, 'wf');
  for (const [k, status] of states)
    entry(w, 2, k, (e) =>
      msg(e, 2, (m) => {
        str(m, 1, k);
        enm(m, 2, status);
      }),
    );
  str(w, 3, '{"a":1}');
  timestamp(w, 4, 1750000000, 0);
  for (const e of [['11', 'eleven'], ['2', 'two']]) strEntry(w, 6, e);
  vectors.push({ name: 'workflow-state', message: 'WorkflowState', hex: hex(w), maps: { nodeStates: states.map(([k]) => k), metadata: ['11', '2'] } });
}

writeFileSync(join(import.meta.dirname, 'map-order.json'), `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${vectors.length} vectors`);
