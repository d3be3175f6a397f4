import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isEcpsError, type CodecName } from '@ecps/core';
import { codecFor, ECPS_MESSAGES, type MessageFns, type MessageKind } from '../src/index';
import { arbitraries } from './arbitraries';

const kinds = Object.keys(ECPS_MESSAGES) as MessageKind[];
const codecs: CodecName[] = ['protobuf', 'json', 'msgpack'];

describe.each(codecs)('%s codec', (codecName) => {
  it.each(kinds)('round-trips arbitrary %s messages', (kind) => {
    const fns = ECPS_MESSAGES[kind].fns as MessageFns<unknown>;
    const codec = codecFor(fns, codecName);
    fc.assert(
      fc.property(arbitraries[kind] as fc.Arbitrary<unknown>, (message) => {
        const normalised = fns.fromPartial(message as never);
        expect(codec.decode(codec.encode(normalised))).toEqual(normalised);
      }),
      { numRuns: 150 },
    );
  });

  it.each(kinds)('decoding garbage as %s gives a typed error or a message, never a crash', (kind) => {
    const codec = codecFor(ECPS_MESSAGES[kind].fns as MessageFns<unknown>, codecName);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (garbage) => {
        try {
          codec.decode(garbage);
        } catch (error) {
          expect(isEcpsError(error, 'DECODE_ERROR')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('hostile inputs', () => {
  const protobuf = codecFor(ECPS_MESSAGES.LTP.fns, 'protobuf');
  it('rejects a length prefix that runs past the end without allocating it', () => {
    // field 3 (tensor_zstd), declared length 2^31, two bytes present
    const hostile = Uint8Array.of(0x1a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00, 0x00);
    expect(() => protobuf.decode(hostile)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
  it('rejects a msgpack value with wrongly typed fields', async () => {
    const { encode } = await import('@msgpack/msgpack');
    const mcp = codecFor(ECPS_MESSAGES.MCP.fns, 'msgpack');
    expect(() => mcp.decode(encode({ spec: 7, prompt: ['x'] }))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
  it('rejects JSON that is not an object', () => {
    const mcp = codecFor(ECPS_MESSAGES.MCP.fns, 'json');
    expect(() => mcp.decode(new TextEncoder().encode('[1,2]'))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});
