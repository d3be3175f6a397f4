// fast-check arbitraries for every canonical ECPS message.
import fc from 'fast-check';
import type { MessageKind, MessageTypes } from '../src/index';

const key = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/);
const map = fc.dictionary(key, fc.string({ maxLength: 20 }), { maxKeys: 4 });
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
// proto3 JSON cannot carry NaN/-0 losslessly through JSON.stringify: keep to finite, non-negative-zero values
const double = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
const float = fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
const bytes = fc.uint8Array({ maxLength: 64 });

const header = fc.record({
  version: u32,
  messageType: u32,
  payloadLength: u32,
  sequenceNumber: u32,
  totalChunks: u32,
  chunkIndex: u32,
  checksum: bytes,
  metadata: map,
});
const ltp = fc.record({
  spec: fc.string(),
  header: fc.option(header, { nil: undefined }),
  tensorZstd: bytes,
  shape: fc.array(u32, { maxLength: 4 }),
  dtype: fc.string({ maxLength: 4 }),
  frameId: fc.string(),
  timestampNs: u64,
  compressionLevel: u32,
  originalSize: u64,
  attributes: map,
});
const pose = fc.record({
  x: double, y: double, z: double, qw: double, qx: double, qy: double, qz: double,
  frameId: fc.string(), timestampNs: u64,
});
const body = fc.oneof(
  pose.map((value) => ({ $case: 'setPose' as const, value })),
  fc.record({ command: fc.integer({ min: 0, max: 3 }), position: float, forceLimit: float }).map((value) => ({ $case: 'gripper' as const, value })),
  fc.record({ apiName: fc.string(), methodName: fc.string(), jsonPayload: bytes, requiresOauth2: fc.boolean() }).map((value) => ({ $case: 'cloud' as const, value })),
  fc.record({ durationS: double, physicsSteps: u32, renderFrame: fc.boolean() }).map((value) => ({ $case: 'sim' as const, value })),
  fc.record({ targetPose: fc.option(pose, { nil: undefined }), maxVelocity: float, tolerance: float, plannerId: fc.string() }).map((value) => ({ $case: 'navigate' as const, value })),
  fc.record({ type: fc.integer({ min: 0, max: 5 }), targetPose: fc.option(pose, { nil: undefined }), objectId: fc.string(), approachDistance: float, forceThreshold: float }).map((value) => ({ $case: 'manipulate' as const, value })),
);

export const arbitraries: { [K in MessageKind]: fc.Arbitrary<MessageTypes[K]> } = {
  MCP: fc.record({ spec: fc.string(), id: fc.string(), prompt: fc.string(), toolJson: bytes, meta: map }),
  LTP: ltp,
  LTPChunk: fc.record({ header: fc.option(header, { nil: undefined }), chunkData: bytes, isFinal: fc.boolean() }),
  LTPAck: fc.record({
    header: fc.option(header, { nil: undefined }),
    success: fc.boolean(),
    message: fc.string(),
    receivedChunks: u32,
    missingChunks: fc.array(u32, { maxLength: 8 }),
  }),
  EAP: fc.record({ spec: fc.string(), id: fc.string(), stateSha: bytes, body: fc.option(body, { nil: undefined }), meta: map }),
  QueryReq: fc.record({ queryEmbedding: fc.option(ltp, { nil: undefined }), k: u32, minSim: float }),
  Ack: fc.record({ success: fc.boolean(), message: fc.string() }),
} as never;
