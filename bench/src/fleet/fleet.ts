// SPDX-License-Identifier: Apache-2.0
// A fleet of robots in this process on one MQTT broker (or on bridged brokers), driven the same way whatever the
// robots are made of: each robot publishes telemetry at QoS 1 and acts on one EAP action from a fleet manager.
// Counts every message (what was lost, what came twice) and measures connect time, throughput, latency, memory.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One connected robot: it already acts on the actions its manager sends. */
export interface FleetRobot {
  /** Publishes telemetry sample `seq` stamped `sentAt` (performance.now()); resolves when the broker has it (QoS 1). */
  publishTelemetry(seq: number, sentAt: number): Promise<void>;
  close(): Promise<void>;
}

/** The fleet manager: receives every robot's telemetry and sends actions. */
export interface FleetManager {
  /** Sends one action to robot `index`; resolves to `ok`, or to why it failed (the result's status and code). */
  sendAction(index: number): Promise<'ok' | string>;
  close(): Promise<void>;
}

/** How robots and the manager are built: ECPS nodes, or raw mqtt.js clients for the baseline. */
export interface FleetSide {
  robot(index: number, url: string): Promise<FleetRobot>;
  manager(url: string, size: number, onTelemetry: (robot: number, seq: number, sentAt: number) => void): Promise<FleetManager>;
}

export interface FleetOptions {
  size: number;
  /** Robot `i` connects to `robotUrls[i % robotUrls.length]` (several: a fleet split across bridged brokers). */
  robotUrls: readonly string[];
  managerUrl: string;
  /** Telemetry rounds: in each, every robot publishes one sample. Default 5. */
  rounds?: number;
  /** Robots connecting at once. Default 50. */
  connectConcurrency?: number;
  /** Actions in flight at once. Default 10. */
  actionConcurrency?: number;
  /** Give up waiting for telemetry after this long without progress. Default 10000 ms. */
  quietMs?: number;
}

export interface FleetFigures {
  size: number;
  /** Time to connect every robot, ms. */
  connectMs: number;
  /**
   * Heap and external memory per robot: live bytes with the fleet connected minus live bytes once it is closed, each
   * after a full GC, divided by the size (so garbage earlier runs left behind cancels out).
   */
  bytesPerNode: number;
  telemetrySent: number;
  /** Distinct samples the manager received. */
  telemetryReceived: number;
  /** Samples acknowledged by the broker and never received. */
  telemetryLost: number;
  /** Samples received more than once. */
  telemetryDuplicates: number;
  /** Distinct samples received per second, from the first publish to the last receipt. */
  messagesPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  actionsSent: number;
  /** Actions whose result came back (a QoS 1 action and its QoS 1 result, whatever the status). */
  actionsAnswered: number;
  /** Actions whose result came back and said succeeded. */
  actionsSucceeded: number;
  /**
   * Why actions failed, with how many each: a result's status and code (`EAP_STATUS_REJECTED STALE_MESSAGE`: the
   * robot got it later than the profile's EAP timeout, as happens on an overloaded machine), or `no result: <code>`.
   */
  actionFailures: Record<string, number>;
  actionP50Ms: number;
  actionP99Ms: number;
}

const NO_RESULT = 'no result:';

/** The q-quantile (0..1) of samples, nearest rank. */
function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

let collect: (() => void) | undefined;
/** A full GC, so memory figures are live objects only (V8's `gc`, exposed at run time). */
function fullGc(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

function liveBytes(): number {
  fullGc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` running; rejects with the first failure. */
async function pool<T>(n: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
  return out;
}

/**
 * Connects `size` robots, then the manager; runs the telemetry rounds and one action per robot; closes everything
 * (also on failure). Never throws for lost messages: the figures count them, and the caller decides.
 */
export async function runFleet(side: FleetSide, options: FleetOptions): Promise<FleetFigures> {
  const { size, robotUrls, managerUrl } = options;
  const rounds = options.rounds ?? 5;
  const robots: FleetRobot[] = [];
  let manager: FleetManager | undefined;
  const close = async () => {
    await manager?.close();
    manager = undefined;
    await pool(robots.length, 100, (i) => robots[i]?.close() ?? Promise.resolve());
    robots.length = 0;
  };
  try {
    const connectStart = performance.now();
    await pool(size, options.connectConcurrency ?? 50, async (i) => {
      robots[i] = await side.robot(i, robotUrls[i % robotUrls.length]!);
    });
    const connectMs = performance.now() - connectStart;
    const connectedBytes = liveBytes();

    const seen = new Uint8Array(size * rounds);
    const latencies: number[] = [];
    let distinct = 0;
    let duplicates = 0;
    let lastReceipt = 0;
    manager = await side.manager(managerUrl, size, (robot, seq, sentAt) => {
      const now = performance.now();
      const slot = robot * rounds + seq;
      if (seen[slot]) {
        duplicates++;
        return;
      }
      seen[slot] = 1;
      distinct++;
      lastReceipt = now;
      latencies.push(now - sentAt);
    });

    const telemetryStart = performance.now();
    let acknowledged = 0;
    for (let seq = 0; seq < rounds; seq++) {
      await Promise.all(robots.map((robot) => robot.publishTelemetry(seq, performance.now()).then(() => void acknowledged++)));
    }
    const quietMs = options.quietMs ?? 10_000;
    for (let last = distinct, lastAt = performance.now(); distinct < acknowledged && performance.now() - lastAt < quietMs; ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (distinct !== last) [last, lastAt] = [distinct, performance.now()];
    }

    const actionTimes: number[] = [];
    const outcomes = await pool(size, options.actionConcurrency ?? 10, async (i) => {
      const start = performance.now();
      const outcome = await manager!.sendAction(i).catch((error: unknown) => `${NO_RESULT} ${String((error as { code?: string }).code ?? error)}`);
      actionTimes.push(performance.now() - start);
      return outcome;
    });
    const actionFailures: Record<string, number> = {};
    for (const outcome of outcomes) if (outcome !== 'ok') actionFailures[outcome] = (actionFailures[outcome] ?? 0) + 1;

    await close();
    await new Promise((resolve) => setTimeout(resolve, 200)); // sockets finish closing
    const bytesPerNode = (connectedBytes - liveBytes()) / size;
    return {
      size,
      connectMs,
      bytesPerNode,
      telemetrySent: acknowledged,
      telemetryReceived: distinct,
      telemetryLost: acknowledged - distinct,
      telemetryDuplicates: duplicates,
      messagesPerSecond: distinct / ((lastReceipt - telemetryStart) / 1000),
      latencyP50Ms: quantile(latencies, 0.5),
      latencyP99Ms: quantile(latencies, 0.99),
      actionsSent: size,
      actionsAnswered: outcomes.filter((outcome) => !outcome.startsWith(NO_RESULT)).length,
      actionsSucceeded: outcomes.filter((outcome) => outcome === 'ok').length,
      actionFailures,
      actionP50Ms: quantile(actionTimes, 0.5),
      actionP99Ms: quantile(actionTimes, 0.99),
    };
  } finally {
    await close();
  }
}
