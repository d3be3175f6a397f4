import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  assertSpec,
  assertPromptSize,
  assertToolJson,
  assertValidEap,
  assertCompressionLevel,
  assertDtype,
  tensorByteSize,
  assertMinSim,
  isEcpsError,
  MAX_PROMPT_BYTES,
} from './index';

const enc = new TextEncoder();

describe('spec strings (§1)', () => {
  it.each(['mcp/1.0', 'mcp/1.3', 'mcp/1.10'])('accepts %s for mcp', (s) => expect(() => assertSpec('mcp', s)).not.toThrow());
  it.each(['', 'mcp/2.0', 'ltp/1.0', 'MCP/1.0', 'mcp/01.0', 'mcp/1', 'mcp/1.0.0', 'uep/1.0', ' mcp/1.0'])(
    'rejects %j for mcp with UNSUPPORTED_VERSION',
    (s) => expect(() => assertSpec('mcp', s)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_VERSION' })),
  );
  it('accepts a higher minor of the same major for eap and ltp', () => {
    expect(() => assertSpec('eap', 'eap/0.4')).not.toThrow();
    expect(() => assertSpec('ltp', 'ltp/0.12')).not.toThrow();
    expect(() => assertSpec('eap', 'eap/1.1')).toThrow();
  });
});

describe('MCP prompt limit (§3)', () => {
  it('accepts exactly 16384 bytes and rejects one more, counting bytes not characters', () => {
    expect(() => assertPromptSize('a'.repeat(MAX_PROMPT_BYTES))).not.toThrow();
    let caught: unknown;
    try {
      assertPromptSize('a'.repeat(MAX_PROMPT_BYTES + 1));
    } catch (e) {
      caught = e;
    }
    expect(isEcpsError(caught, 'PROMPT_TOO_LARGE')).toBe(true);
    // 5462 three-byte characters = 16386 bytes, though only 5462 characters
    expect(() => assertPromptSize('€'.repeat(5462))).toThrow(expect.objectContaining({ code: 'PROMPT_TOO_LARGE' }));
    expect(() => assertPromptSize('€'.repeat(5461))).not.toThrow();
  });
});

describe('tool_json', () => {
  it('accepts empty and JSON, rejects invalid UTF-8 and non-JSON', () => {
    expect(() => assertToolJson(new Uint8Array())).not.toThrow();
    expect(() => assertToolJson(enc.encode('{"name":"grasp"}'))).not.toThrow();
    expect(() => assertToolJson(enc.encode('{name'))).toThrow(expect.objectContaining({ code: 'INVALID_TOOL_JSON' }));
    expect(() => assertToolJson(Uint8Array.of(0x22, 0xff, 0x22))).toThrow(expect.objectContaining({ code: 'INVALID_TOOL_JSON' }));
  });
});

describe('EAP rules', () => {
  const sha = new Uint8Array(32);
  it('requires a 32-byte state_sha and a body', () => {
    expect(() => assertValidEap({ spec: 'eap/0.1', stateSha: sha, body: {} })).not.toThrow();
    expect(() => assertValidEap({ spec: 'eap/0.1', stateSha: sha.subarray(1), body: {} })).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE_SHA' }),
    );
    expect(() => assertValidEap({ spec: 'eap/0.1', stateSha: sha })).toThrow(expect.objectContaining({ code: 'MISSING_ACTION_BODY' }));
  });
});

describe('LTP rules', () => {
  it('checks compression levels per codec, 0 meaning unstated', () => {
    expect(() => assertCompressionLevel('zstd', 22)).not.toThrow();
    expect(() => assertCompressionLevel('zstd', 23)).toThrow(expect.objectContaining({ code: 'INVALID_COMPRESSION_LEVEL' }));
    expect(() => assertCompressionLevel('deflate', 10)).toThrow();
    expect(() => assertCompressionLevel('none', 1)).toThrow();
    expect(() => assertCompressionLevel('none', 0)).not.toThrow();
  });
  it('knows exactly 12 dtypes', () => {
    expect(() => assertDtype('f16')).not.toThrow();
    expect(() => assertDtype('bf16')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_DTYPE' }));
    expect(() => assertDtype('__proto__')).toThrow();
  });
  it('computes tensor sizes in BigInt so that hostile shapes cannot overflow', () => {
    expect(tensorByteSize([], 'f32')).toBe(4n);
    expect(tensorByteSize([2, 3], 'f32')).toBe(24n);
    expect(tensorByteSize([2 ** 31, 2 ** 31, 2 ** 31], 'f64')).toBe(8n * 2n ** 93n);
  });
  it('accepts any finite float32 min_sim only', () => {
    fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => assertMinSim(x) === undefined));
    expect(() => assertMinSim(Number.NaN)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
    expect(() => assertMinSim(Infinity)).toThrow();
  });
});
