// SPDX-License-Identifier: Apache-2.0
// Where the time goes: a CPU profile (the V8 sampler behind `node --cpu-prof`) of one measurement, summarised as the
// functions with the most self time.
import { Session } from 'node:inspector/promises';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * `name file:line` for a sampled frame (V8 pseudo-frames such as `(garbage collector)` keep their name). The
 * session's native `dispatch` (no file) is the in-process inspector itself, not the measured code.
 */
function frameLabel({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  if (functionName === 'dispatch' && !url) return '(inspector session)';
  const name = functionName || '(anonymous)';
  return url ? `${name} ${basename(url)}:${lineNumber + 1}` : name;
}

/** Share of self time per function, largest first: `[label, fraction]`. */
export function selfTimeShares(profile: CpuProfile): [string, number][] {
  const labels = new Map(profile.nodes.map((n) => [n.id, frameLabel(n.callFrame)]));
  const self = new Map<string, number>();
  let total = 0;
  const samples = profile.samples ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = profile.timeDeltas?.[i] ?? 0;
    const label = labels.get(samples[i]!) ?? '(unknown)';
    self.set(label, (self.get(label) ?? 0) + dt);
    total += dt;
  }
  return [...self].map(([label, t]): [string, number] => [label, total > 0 ? t / total : 0]).sort((a, b) => b[1] - a[1]);
}

/** Runs `work` under the CPU profiler and returns the `top` functions by self time, e.g. `41% crc32 zlib:852`. */
export async function profileSummary(work: () => Promise<unknown>, top = 8): Promise<string[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    const failure = await work().then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    if (failure) throw failure.error;
    return selfTimeShares(profile)
      .slice(0, top)
      .map(([label, share]) => `${(share * 100).toFixed(0)}% ${label}`);
  } finally {
    session.disconnect();
  }
}
