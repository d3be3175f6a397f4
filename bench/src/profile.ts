// SPDX-License-Identifier: Apache-2.0
// Where the time goes: a CPU profile (the V8 sampler behind `node --cpu-prof`) of one measurement, summarised as the
// main thread's idle share, the functions with the most self time, and our own packages' functions with the most
// total (inclusive) time, next to the CPU the process's other threads and its child processes used meanwhile.
import { readFileSync, readdirSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The shape of `Profiler.stop`'s profile (and of a `.cpuprofile` file). Times in microseconds. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** CPU time (ms) used while the profiled work ran, when the platform tells (Linux `/proc`). */
export interface CpuDuringRun {
  mainThread: number;
  /** The process's other threads: libuv's threadpool (zlib, crypto, fs, addons' async work), V8's GC helpers. */
  otherThreads: number;
  /** Processes this one started (and theirs) that were alive at both ends of the run. */
  childProcesses: number;
}

/** Where the profiled work spent its time. Shares are fractions (0..1). */
export interface ProfileSummary {
  /** Wall time of the profiled window, ms. */
  ms: number;
  /** Samples taken in it (fewer than expected when a loaded machine starves the sampler). */
  samples: number;
  /** Share of the window the main thread sat in the event loop: waiting on I/O, the threadpool or another process. */
  idle: number;
  /** Top frames by self time, as shares of the busy (non-idle) time: `41% crc32 (native) ← copyWithCrc32 ltp/index.js:130`. */
  self: string[];
  /** Our own packages' functions by total (inclusive) time, shares of the busy time: `80% encodeTensorFrame ltp/index.js:696`. */
  total: string[];
  /** Share of the busy time with one of the case's {@link RequiredWork} functions on the stack, when it names some. */
  required?: number;
  cpu?: CpuDuringRun;
}

/**
 * Work of ours that the spec requires and the raw baseline does not do (exact rescoring, a frame's checksums): the
 * functions of our packages that do it, matched by name anywhere on a sample's stack, and why it is required.
 */
export interface RequiredWork {
  readonly functions: RegExp;
  readonly why: string;
}

const IDLE = '(idle)';
const isPseudoFrame = (f: CallFrame) => !f.url && f.functionName.startsWith('(');

/**
 * `name where:line` for a JavaScript frame, where `where` says whose code it is: `ltp/index.js` for one of our packages
 * (`packages/ltp/dist/index.js`), `mqtt/client.js` for a dependency, the module's name for Node's own (`cipher`).
 */
export function frameLabel({ functionName, url, lineNumber }: CallFrame): string {
  const name = functionName || '(anonymous)';
  if (!url) return isPseudoFrame({ functionName, url, lineNumber }) ? name : `${name} (native)`;
  const path = url.replace(/^file:\/\//, '');
  const dependency = /^(@[^/]+\/)?[^/]+/.exec(path.split('/node_modules/').slice(1).at(-1) ?? '');
  const own = /\/(?:packages|apps)\/([^/]+)\/(?:dist|src)\/(.+)$/.exec(path);
  const where = dependency ? `${dependency[0]}/${basename(path)}` : own ? `${own[1]}/${own[2]}` : basename(path);
  return `${name} ${where}:${lineNumber + 1}`;
}

/** Our own code: a file of one of the repository's packages or apps (not a dependency, not the bench itself). */
export const isOwnCode = ({ url }: CallFrame) => /\/(?:packages|apps)\/[^/]+\/(?:dist|src)\//.test(url) && !url.includes('/node_modules/');

const percent = ([label, share]: [string, number]) => `${Math.round(share * 100)}% ${label}`;

/**
 * Summarises the samples of `profile` taken between `from` and `to` (microseconds, the profile's clock: the
 * monotonic clock of `process.hrtime`). Each sample stands for the time since the previous one (clipped to the window),
 * so the profiler's own start-up, which the first sample absorbs, stays outside.
 *
 * Native frames (no script) are named by V8 after the entry point it saw, which for Node-API addons is shared by every
 * method of the addon: their label carries the JavaScript frame that called them, which tells which call it was.
 */
export function summariseProfile(profile: CpuProfile, window: { from: number; to: number }, top = 8, required?: RegExp): Omit<ProfileSummary, 'cpu'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const selfLabel = (node: ProfileNode): string => {
    const label = frameLabel(node.callFrame);
    if (node.callFrame.url || isPseudoFrame(node.callFrame)) return label;
    const caller = byId.get(parentOf.get(node.id) ?? -1);
    return caller && caller.callFrame.url ? `${label} ← ${frameLabel(caller.callFrame)}` : label;
  };

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  let requiredTime = 0;
  let idle = 0;
  let samples = 0;
  let t = profile.startTime;
  let previous = t;
  const all = profile.samples ?? [];
  for (let i = 0; i < all.length; i++) {
    t += profile.timeDeltas?.[i] ?? 0;
    const start = Math.max(previous, window.from);
    previous = t;
    if (t < window.from || t > window.to) continue;
    const node = byId.get(all[i]!);
    if (!node) continue;
    samples++;
    const dt = t - start;
    if (node.callFrame.functionName === IDLE && !node.callFrame.url) {
      idle += dt;
      continue;
    }
    busy += dt;
    const label = selfLabel(node);
    self.set(label, (self.get(label) ?? 0) + dt);
    // inclusive time: each of our functions once per sample, however deep it recurses
    const onStack = new Set<string>();
    let inRequired = false;
    for (let n: ProfileNode | undefined = node; n; n = byId.get(parentOf.get(n.id) ?? -1)) {
      if (!isOwnCode(n.callFrame)) continue;
      onStack.add(frameLabel(n.callFrame));
      inRequired ||= required?.test(n.callFrame.functionName) ?? false;
    }
    for (const l of onStack) total.set(l, (total.get(l) ?? 0) + dt);
    if (inRequired) requiredTime += dt;
  }
  const ranked = (m: Map<string, number>) =>
    [...m]
      .map(([label, time]): [string, number] => [label, busy > 0 ? time / busy : 0])
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(percent);
  const windowTime = window.to - window.from;
  return {
    ms: windowTime / 1000,
    samples,
    idle: windowTime > 0 ? idle / windowTime : 0,
    self: ranked(self),
    total: ranked(total),
    ...(required ? { required: busy > 0 ? requiredTime / busy : 0 } : {}),
  };
}

/** One line per part, e.g. for the console and the report. */
export function describeProfile(p: ProfileSummary): { run: string; self: string; total: string } {
  const cpu = p.cpu
    ? `; CPU meanwhile: main thread ${seconds(p.cpu.mainThread)}, other threads ${seconds(p.cpu.otherThreads)}, child processes ${seconds(p.cpu.childProcesses)}`
    : '';
  return {
    run: `${seconds(p.ms)}, ${p.samples} samples; main thread ${Math.round(p.idle * 100)}% idle (waiting on I/O, threadpool or another process)${cpu}`,
    self: `self time (share of busy time): ${p.self.join(', ') || '-'}`,
    total: `total time in our packages (share of busy time): ${p.total.join(', ') || '-'}`,
  };
}

/**
 * The line on a case's {@link RequiredWork}: its share of the busy time, and the ratio ours would reach without it.
 * The estimate takes that work off the critical path of each operation (true of work on the main thread of a case
 * that awaits each operation in turn): the time per operation shrinks by share × busy fraction.
 */
export function describeRequiredWork(p: ProfileSummary, ratio: number, work: { functions: string; why: string }): string {
  const share = p.required ?? 0;
  const without = ratio / (1 - share * (1 - p.idle));
  return `work the spec requires and the baseline does not do (${work.why}; functions /${work.functions}/): ${Math.round(share * 100)}% of busy time; without it the ratio would be about ${without.toFixed(2)}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** utime + stime of a process or thread, ms, from its `/proc/.../stat` (USER_HZ is 100 on Linux). */
function procCpuMs(statFile: string): number | undefined {
  try {
    const fields = readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** This process's descendants by pid, each with its CPU time so far (Linux only: empty elsewhere). */
function descendantsCpu(pid = process.pid, into = new Map<number, number>()): Map<number, number> {
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return into;
  }
  for (const task of tasks) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean);
    } catch {
      continue;
    }
    for (const child of children.map(Number)) {
      const ms = procCpuMs(`/proc/${child}/stat`);
      if (ms === undefined || into.has(child)) continue;
      into.set(child, ms);
      descendantsCpu(child, into);
    }
  }
  return into;
}

function cpuSnapshot() {
  return {
    process: procCpuMs('/proc/self/stat'),
    mainThread: procCpuMs(`/proc/self/task/${process.pid}/stat`),
    children: descendantsCpu(),
  };
}

function cpuBetween(a: ReturnType<typeof cpuSnapshot>, b: ReturnType<typeof cpuSnapshot>): CpuDuringRun | undefined {
  if (a.process === undefined || b.process === undefined || a.mainThread === undefined || b.mainThread === undefined) return undefined;
  let childProcesses = 0;
  for (const [pid, ms] of b.children) if (a.children.has(pid)) childProcesses += ms - a.children.get(pid)!;
  const mainThread = b.mainThread - a.mainThread;
  return { mainThread, otherThreads: Math.max(0, b.process - a.process - mainThread), childProcesses };
}

const nowMicros = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `work` under the CPU profiler, again and again until at least `minMs` have passed (a short run on a loaded
 * machine gets few samples), and summarises it. The work starts from a fresh macrotask: continued from the
 * inspector's reply it would run inside the session's native `dispatch` frame, and the profiler's start-up (it walks
 * every compiled function) is left outside the window. Rethrows what `work` throws.
 */
export async function profileSummary(
  work: () => Promise<unknown>,
  { top = 8, minMs = 1000, required }: { top?: number; minMs?: number; required?: RegExp } = {},
): Promise<ProfileSummary> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    await new Promise((resolve) => setImmediate(resolve));
    const before = cpuSnapshot();
    const from = nowMicros();
    let failure: { error: unknown } | undefined;
    do {
      failure = await work().then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
    } while (!failure && nowMicros() - from < minMs * 1000);
    const to = nowMicros();
    const cpu = cpuBetween(before, cpuSnapshot());
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    if (failure) throw failure.error;
    return { ...summariseProfile(profile, { from, to }, top, required), ...(cpu ? { cpu } : {}) };
  } finally {
    session.disconnect();
  }
}
