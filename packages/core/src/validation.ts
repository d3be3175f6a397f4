// SPDX-License-Identifier: Apache-2.0
// Message rules of spec §1 and §3 that do not need a decoder. Every violation throws a ValidationError
// whose code names the rule; nothing is ever truncated or repaired.
import { ValidationError } from './errors';

/** The `spec` strings our writers emit (spec §1). */
export const SPEC_STRINGS = { mcp: 'mcp/1.0', ltp: 'ltp/0.9', eap: 'eap/0.1' } as const;
export type SpecName = keyof typeof SPEC_STRINGS;

const SPEC_RE = /^([a-z]+)\/(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;

/**
 * Checks a received `spec` string: right name, same major; any minor is accepted (we are deliberately more
 * lenient than the reference, which demands exact strings). Throws `UNSUPPORTED_VERSION` otherwise.
 */
export function assertSpec(kind: SpecName, spec: string): void {
  const match = SPEC_RE.exec(spec);
  const expected = SPEC_STRINGS[kind];
  const expectedMajor = expected.slice(expected.indexOf('/') + 1).split('.')[0];
  if (!match || match[1] !== kind || match[2] !== expectedMajor) {
    throw new ValidationError(
      'UNSUPPORTED_VERSION',
      spec === '' ? `missing spec string (expected ${expected})` : `unsupported spec ${JSON.stringify(spec)} (expected ${expected})`,
      { details: { spec, expected } },
    );
  }
}

/** Largest MCP prompt, in UTF-8 bytes. */
export const MAX_PROMPT_BYTES = 16_384;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Throws `PROMPT_TOO_LARGE` when the prompt exceeds 16384 UTF-8 bytes (bytes, not characters). */
export function assertPromptSize(prompt: string): void {
  const bytes = Buffer.byteLength(prompt, 'utf8');
  if (bytes > MAX_PROMPT_BYTES) {
    throw new ValidationError('PROMPT_TOO_LARGE', `prompt is ${bytes} UTF-8 bytes; the limit is ${MAX_PROMPT_BYTES}`, {
      details: { bytes, limit: MAX_PROMPT_BYTES },
    });
  }
}

/** Throws `INVALID_TOOL_JSON` unless `toolJson` is empty or valid UTF-8 JSON. */
export function assertToolJson(toolJson: Uint8Array): void {
  if (toolJson.length === 0) return;
  try {
    JSON.parse(utf8Decoder.decode(toolJson));
  } catch (cause) {
    throw new ValidationError('INVALID_TOOL_JSON', 'tool_json is not valid UTF-8 JSON', { cause });
  }
}

/** The structural part of an MCP message that validation reads. */
export interface McpShape {
  spec: string;
  prompt: string;
  toolJson: Uint8Array;
}

/** All MCP receive rules: spec, prompt size, tool_json. */
export function assertValidMcp(message: McpShape): void {
  assertSpec('mcp', message.spec);
  assertPromptSize(message.prompt);
  assertToolJson(message.toolJson);
}

/** Throws `INVALID_STATE_SHA` unless the digest is exactly 32 bytes. */
export function assertStateSha(stateSha: Uint8Array): void {
  if (stateSha.length !== 32) {
    throw new ValidationError('INVALID_STATE_SHA', `state_sha must be 32 bytes, got ${stateSha.length}`, {
      details: { length: stateSha.length },
    });
  }
}

/** The structural part of an EAP message that validation reads. */
export interface EapShape {
  spec: string;
  stateSha: Uint8Array;
  body?: unknown;
}

/** All EAP receive rules: spec, a 32-byte state_sha, exactly one action body. */
export function assertValidEap(message: EapShape): void {
  assertSpec('eap', message.spec);
  assertStateSha(message.stateSha);
  if (message.body === undefined || message.body === null) {
    throw new ValidationError('MISSING_ACTION_BODY', 'EAP message has no action body');
  }
}

/** The 12 tensor dtypes of spec §4.1 and their item sizes in bytes. */
export const LTP_DTYPES = {
  f16: 2,
  f32: 4,
  f64: 8,
  i8: 1,
  u8: 1,
  i16: 2,
  u16: 2,
  i32: 4,
  u32: 4,
  i64: 8,
  u64: 8,
  bool: 1,
} as const;
export type LtpDtype = keyof typeof LTP_DTYPES;

/** Throws `UNSUPPORTED_DTYPE` for anything outside the 12 dtypes. */
export function assertDtype(dtype: string): asserts dtype is LtpDtype {
  if (!Object.hasOwn(LTP_DTYPES, dtype)) {
    throw new ValidationError('UNSUPPORTED_DTYPE', `unsupported dtype ${JSON.stringify(dtype)}`, { details: { dtype } });
  }
}

export type LtpCodecName = 'zstd' | 'deflate' | 'none';

/** Throws `INVALID_COMPRESSION_LEVEL` unless the level fits the codec (0 = unstated is always accepted). */
export function assertCompressionLevel(codec: LtpCodecName, level: number): void {
  if (level === 0) return;
  const ok = (codec === 'zstd' && level >= 1 && level <= 22) || (codec === 'deflate' && level >= 1 && level <= 9);
  if (!ok || !Number.isInteger(level)) {
    throw new ValidationError('INVALID_COMPRESSION_LEVEL', `compression level ${level} is invalid for ${codec}`, {
      details: { codec, level },
    });
  }
}

/**
 * Expected byte size of a tensor: prod(shape) × itemsize (empty shape = 1 element), as a BigInt so that
 * hostile shapes cannot overflow.
 */
export function tensorByteSize(shape: readonly number[], dtype: LtpDtype): bigint {
  let elements = 1n;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0) {
      throw new ValidationError('TENSOR_SIZE_MISMATCH', `invalid dimension ${dim} in shape [${shape.join(', ')}]`);
    }
    elements *= BigInt(dim);
  }
  return elements * BigInt(LTP_DTYPES[dtype]);
}

/** Throws `INVALID_QUERY` unless `minSim` is a finite float32. */
export function assertMinSim(minSim: number): void {
  if (!Number.isFinite(minSim) || Math.abs(minSim) > 3.4028234663852886e38) {
    throw new ValidationError('INVALID_QUERY', `min_sim must be a finite float32, got ${minSim}`);
  }
}
