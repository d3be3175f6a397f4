// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { describeRequiredWork, frameLabel, profileSummary, summariseProfile, type CpuProfile } from './profile';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
const LTP = 'file:///repo/packages/ltp/dist/index.js';

/**
 * root ─ (idle) | (program) | dispatch (the profiler's own start and stop)
 *      └ run bench/src/cases/ltp.bench.ts ─ encodeTensorFrame ─┬ copyWithCrc32 ─ crc32 (native)
 *                                                               └ compress (dependency) ─ encodeTensorFrame ─ addPoint (native)
 */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 5] },
    { id: 2, callFrame: frame('(idle)') },
    { id: 3, callFrame: frame('(program)') },
    { id: 4, callFrame: frame('run', 'file:///repo/bench/src/cases/ltp.bench.ts', 40), children: [6] },
    { id: 5, callFrame: frame('dispatch') },
    { id: 6, callFrame: frame('encodeTensorFrame', LTP, 695), children: [7, 8] },
    { id: 7, callFrame: frame('copyWithCrc32', LTP, 129), children: [9] },
    { id: 8, callFrame: frame('compress', 'file:///repo/node_modules/.pnpm/@mongodb-js+zstd@1.2.2/node_modules/@mongodb-js/zstd/lib/index.js', 8), children: [10] },
    { id: 9, callFrame: frame('crc32') },
    { id: 10, callFrame: frame('encodeTensorFrame', LTP, 695), children: [11] },
    { id: 11, callFrame: frame('addPoint') },
  ],
  startTime: 1000,
  endTime: 2700,
  // sample times: 1500 (profiler start-up), 1700, 1900, 2100, 2300, 2400, 2700 (profiler stop)
  samples: [5, 9, 2, 9, 11, 3, 5],
  timeDeltas: [500, 200, 200, 200, 200, 100, 300],
};

describe('summariseProfile', () => {
  const summary = summariseProfile(profile, { from: 1600, to: 2600 });

  it('counts only the window: the profiler start-up and stop samples stay outside, the first sample is clipped', () => {
    expect(summary.ms).toBe(1);
    expect(summary.samples).toBe(5);
    expect(summary.self.join()).not.toMatch(/dispatch/);
  });

  it('reports idle apart, and self time as shares of the busy time', () => {
    expect(summary.idle).toBeCloseTo(0.2);
    // busy: crc32 100 (clipped) + 200, addPoint 200, (program) 100
    expect(summary.self).toEqual([
      '50% crc32 (native) ← copyWithCrc32 ltp/index.js:130',
      '33% addPoint (native) ← encodeTensorFrame ltp/index.js:696',
      '17% (program)',
    ]);
  });

  it("totals our packages' functions, each once per sample however deep it recurses, and leaves out others' code", () => {
    expect(summary.total).toEqual(['83% encodeTensorFrame ltp/index.js:696', '50% copyWithCrc32 ltp/index.js:130']);
  });

  it("measures the share of the busy time spent in the case's required work, wherever it sits on the stack", () => {
    // crc32 under copyWithCrc32: 300 of 600 busy; the bench's own `run` frame is not ours and never matches
    expect(summariseProfile(profile, { from: 1600, to: 2600 }, 8, /^copyWithCrc32$/).required).toBeCloseTo(0.5);
    expect(summariseProfile(profile, { from: 1600, to: 2600 }, 8, /^run$/).required).toBe(0);
    expect(summary.required).toBeUndefined();
  });

  it('estimates the ratio without the required work from its share of the busy time', () => {
    const line = describeRequiredWork({ ...summary, required: 0.5 }, 0.8, { functions: 'copyWithCrc32', why: 'the checksum' });
    // idle 0.2: the work is 0.5 × 0.8 of each operation's time, so 0.8 / 0.6
    expect(line).toBe('work the spec requires and the baseline does not do (the checksum; functions /copyWithCrc32/): 50% of busy time; without it the ratio would be about 1.33');
  });

  it('keeps the top n', () => {
    expect(summariseProfile(profile, { from: 1600, to: 2600 }, 1).self).toEqual(['50% crc32 (native) ← copyWithCrc32 ltp/index.js:130']);
  });
});

describe('frameLabel', () => {
  it("says whose code a frame is: ours by package, a dependency by name, Node's by module", () => {
    expect(frameLabel(frame('put', 'file:///repo/packages/mep/dist/index.js', 9))).toBe('put mep/index.js:10');
    expect(frameLabel(frame('compress', 'file:///r/node_modules/.pnpm/@mongodb-js+zstd@1/node_modules/@mongodb-js/zstd/lib/index.js', 8))).toBe(
      'compress @mongodb-js/zstd/index.js:9',
    );
    expect(frameLabel(frame('publish', 'file:///r/node_modules/.pnpm/mqtt@5/node_modules/mqtt/build/lib/client.js', 0))).toBe('publish mqtt/client.js:1');
    expect(frameLabel(frame('update', 'node:internal/crypto/cipher', 172))).toBe('update cipher:173');
    expect(frameLabel(frame('', 'file:///repo/bench/src/run.ts', 1))).toBe('(anonymous) run.ts:2');
    expect(frameLabel(frame('(garbage collector)'))).toBe('(garbage collector)');
  });
});

describe('profileSummary', () => {
  function spin(ms: number): number {
    const end = performance.now() + ms;
    let x = 0;
    while (performance.now() < end) for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + i);
    return x;
  }

  it("attributes the measured work's time to its own functions, not to the inspector session", async () => {
    const summary = await profileSummary(async () => spin(50), { minMs: 300 });
    expect(summary.ms).toBeGreaterThanOrEqual(300);
    expect(summary.self[0]).toMatch(/^\d+% spin profile\.test\.ts:\d+$/);
    expect(summary.self.join()).not.toMatch(/dispatch/);
  });

  it('rethrows what the work throws', async () => {
    await expect(profileSummary(() => Promise.reject(new Error('boom')), { minMs: 0 })).rejects.toThrow('boom');
  });
});
