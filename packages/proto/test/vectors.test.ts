import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { vectorsDir } from '@ecps/testkit';
import { EAP, LTP, GripperOp_GripperCommand, MemoryStoreService, QueryReq } from '@ecps/proto';
import { MepReplicate, SealedEnvelope, LtpCodec } from '@ecps/proto/ext/v1';

const vectors = vectorsDir('ecps');
const vector = (name: string) => new Uint8Array(readFileSync(join(vectors, name)));
const stateSha = createHash('sha256').update('mock_perceptual_state_data').digest();

describe('canonical schema against the reference vectors (spec §11)', () => {
  it('decodes eap_set_pose.bin as spec §5.3 lays it out', () => {
    const eap = EAP.decode(vector('eap_set_pose.bin'));
    expect(eap.spec).toBe('eap/0.1');
    expect(eap.id).toBe('test-eap-001');
    expect(Buffer.from(eap.stateSha)).toEqual(stateSha);
    expect(eap.body).toEqual({
      $case: 'setPose',
      value: { x: 1.5, y: 2.0, z: 0, qw: 0.707, qx: 0, qy: 0, qz: 0.707, frameId: 'map', timestampNs: 1640995200000000000n },
    });
    expect(eap.meta).toEqual({ safety: 'stop_on_fail' });
    // re-encoding gives a decoded-equal message (bytes are not canonical, spec §1)
    expect(EAP.decode(EAP.encode(eap).finish())).toEqual(eap);
  });

  it('decodes eap_gripper.bin', () => {
    const eap = EAP.decode(vector('eap_gripper.bin'));
    expect(eap.id).toBe('test-eap-002');
    expect(eap.body?.$case).toBe('gripper');
    const gripper = eap.body?.$case === 'gripper' ? eap.body.value : undefined;
    expect(gripper?.command).toBe(GripperOp_GripperCommand.CLOSE);
    expect(gripper?.position).toBe(Math.fround(0.1));
    expect(gripper?.forceLimit).toBe(15);
    expect(eap.meta).toEqual({});
  });

  it('decodes ltp_data_frame.bin header and fields (spec §4.8)', () => {
    const ltp = LTP.decode(vector('ltp_data_frame.bin'));
    expect(ltp.spec).toBe('ltp/0.9');
    expect(ltp.header).toMatchObject({ version: 1, messageType: 1, payloadLength: 33, sequenceNumber: 0, totalChunks: 0 });
    expect(Buffer.from(ltp.header!.checksum).toString('hex')).toBe('86c611d3');
    expect(ltp.header!.metadata).toEqual({ frame_id: 'camera', dtype: 'f32', timestamp: '1640995200000000000' });
    expect(ltp.tensorZstd.length).toBe(33);
    expect(ltp.shape).toEqual([2, 3]);
    expect(ltp.dtype).toBe('f32');
    expect(ltp.frameId).toBe('camera');
    expect(ltp.timestampNs).toBe(1640995200000000000n);
    expect(ltp.compressionLevel).toBe(3);
    expect(ltp.originalSize).toBe(24n);
    expect(ltp.attributes).toEqual({});
  });

  it('does not emit default-valued scalars (proto3)', () => {
    const bytes = LTP.encode(LTP.fromPartial({ spec: 'ltp/0.9', header: { version: 1, messageType: 1 } })).finish();
    // spec(1) + header(2) with only version and message_type
    expect(Buffer.from(bytes).toString('hex')).toBe('0a076c74702f302e3912040801' + '1001');
  });

  it('serves MemoryStore at the canonical gRPC paths', () => {
    expect(MemoryStoreService.put.path).toBe('/ecps.MemoryStore/Put');
    expect(MemoryStoreService.put.responseStream).toBe(false);
    expect(MemoryStoreService.query.path).toBe('/ecps.MemoryStore/Query');
    expect(MemoryStoreService.query.responseStream).toBe(true);
  });

  it('widens QueryReq.min_sim from float32 (0.7 arrives as 0.699999988079071)', () => {
    const q = QueryReq.decode(QueryReq.encode(QueryReq.fromPartial({ k: 5, minSim: 0.7 })).finish());
    expect(q.minSim).toBe(0.699999988079071);
  });
});

describe('ext/v1', () => {
  it('round-trips replication and sealed messages with 64-bit counters intact', () => {
    const rep = MepReplicate.fromPartial({
      operationId: 'op',
      sourceNode: 'a',
      entries: [{ key: 'k', dot: { nodeId: 'a', counter: 2n ** 63n + 5n }, context: { a: 18446744073709551615n } }],
      requiresAck: true,
    });
    expect(MepReplicate.decode(MepReplicate.encode(rep).finish())).toEqual(rep);
    const env = SealedEnvelope.fromPartial({ alg: 'X25519-HKDF-SHA256-A256GCM', timestampNs: 1n, nonce: new Uint8Array(12) });
    expect(SealedEnvelope.decode(SealedEnvelope.encode(env).finish())).toEqual(env);
    expect(LtpCodec.LTP_CODEC_NONE).toBe(2);
  });
});
