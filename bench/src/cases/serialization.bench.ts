// SPDX-License-Identifier: Apache-2.0
// Serialization overhead: our codecs and CloudEvents mapping against raw ts-proto.
import { EAP, GripperOp_GripperCommand, MCP } from '@ecps/proto';
import { encodeEvent, protobufCodec, toBinaryMode } from '@ecps/serialization';
import { opsPerSecond, type BenchCase } from '../harness';

const mcp: MCP = MCP.fromPartial({
  spec: 'mcp/1.0',
  id: '9b98f22f-bdb5-496a-a7d1-aa6b21980b1a',
  prompt: 'Pick up the red cube on the left of the tray and place it in the bin.',
  toolJson: new TextEncoder().encode('{"name":"gripper","parameters":{"command":["OPEN","CLOSE","GRIP"]}}'),
  meta: { lang: 'en' },
});
const eap: EAP = EAP.fromPartial({
  spec: 'eap/0.1',
  id: '18b9e575-f1c8-458f-82b4-1546d6b6b722',
  stateSha: new Uint8Array(32).fill(7),
  body: { $case: 'gripper', value: { command: GripperOp_GripperCommand.GRIP, position: 0.2, forceLimit: 15 } },
  meta: { safety: 'stop_on_fail' },
});

const mcpCodec = protobufCodec(MCP);
const eapCodec = protobufCodec(EAP);

const cases: BenchCase[] = [
  {
    name: 'protobuf encode+decode MCP (codec vs raw ts-proto)',
    unit: 'ops/s',
    higherIsBetter: true,
    ours: () => opsPerSecond(() => mcpCodec.decode(mcpCodec.encode(mcp))),
    baseline: () => opsPerSecond(() => MCP.decode(MCP.encode(mcp).finish())),
  },
  {
    name: 'protobuf encode+decode EAP (codec vs raw ts-proto)',
    unit: 'ops/s',
    higherIsBetter: true,
    ours: () => opsPerSecond(() => eapCodec.decode(eapCodec.encode(eap))),
    baseline: () => opsPerSecond(() => EAP.decode(EAP.encode(eap).finish())),
  },
  {
    name: 'CloudEvents binary-mode wrap of EAP vs bare encode',
    unit: 'ops/s',
    higherIsBetter: true,
    target: 0.8,
    ours: () => opsPerSecond(() => toBinaryMode(encodeEvent('EAP', eap, { source: 'urn:ecps:bench' }))),
    baseline: () => opsPerSecond(() => EAP.encode(eap).finish()),
  },
];

export default cases;
