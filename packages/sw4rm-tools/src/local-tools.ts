// SPDX-License-Identifier: Apache-2.0
// Tools as local executables: arguments (JSON, checked against the declared input schema) on stdin, output on
// stdout (checked against the output schema when it is JSON). Execution policy is enforced, not logged: network
// isolation in a fresh network namespace (`unshare`), a minimal environment, wall-clock and CPU budgets (the
// process group is killed), concurrency per tool, retries only for idempotent tools.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { EcpsError, ValidationError } from '@ecps/core';
import { durationToMs } from '@ecps/sw4rm';
import type { ExecutionPolicy, ToolCall, ToolDescriptor } from '@ecps/sw4rm/proto';
import { EgressProxy, NAMESPACE_FORWARDER } from './egress';

/** One local tool: its descriptor fields and the command that runs it. */
export interface LocalToolSpec {
  /** ToolDescriptor fields (`tool_name`, `input_schema`, ...) as the catalog shows them. */
  descriptor: Partial<ToolDescriptor> & { toolName: string };
  /** argv of the executable; arguments arrive as JSON on stdin. */
  command: readonly string[];
  /** Content type of stdout; default `application/json`. */
  outputContentType?: string;
  /**
   * Destinations (`host:port`) the tool may reach under `network_policy` EGRESS_RESTRICTED, through the HTTP proxy
   * in its `HTTP_PROXY`/`HTTPS_PROXY`; without a list such calls are refused.
   */
  egressAllow?: readonly string[];
}

/** Where a call runs and how it is allowed to behave. */
export interface RunContext {
  /** Working directory (the caller's bound worktree for `needs_worktree` tools); default a fresh temp directory. */
  cwd?: string;
  /** Receives stdout chunks as they come (CallStream). */
  onData?(chunk: Uint8Array): void;
  signal?: AbortSignal;
}

/** What a finished run produced. */
export interface RunResult {
  stdout: Uint8Array;
  contentType: string;
  summary: string;
  attempts: number;
}

/** Error codes of tool failures (ToolError.error_code / the gRPC details prefix). */
export type ToolFailure = 'WALL_TIMEOUT' | 'CPU_BUDGET_EXCEEDED' | 'CANCELLED' | 'TOOL_FAILED' | 'INVALID_OUTPUT' | 'TOOL_BUSY' | 'EGRESS_DENIED';

/** A failed tool run: `failure` says why (the gRPC status follows from the EcpsError code). */
export class ToolRunError extends EcpsError {
  constructor(
    readonly failure: ToolFailure,
    detail: string,
  ) {
    const code =
      failure === 'WALL_TIMEOUT'
        ? 'TIMEOUT'
        : failure === 'CANCELLED'
          ? 'CANCELLED'
          : failure === 'CPU_BUDGET_EXCEEDED' || failure === 'TOOL_BUSY'
            ? 'RESOURCE_EXHAUSTED'
            : failure === 'EGRESS_DENIED'
              ? 'PERMISSION_DENIED'
              : 'REMOTE_ERROR';
    super(code, `${failure}: ${detail}`);
    this.name = 'ToolRunError';
  }
}

const NETWORK_POLICIES = ['DENY_ALL', 'EGRESS_RESTRICTED', 'EGRESS_UNRESTRICTED', 'FULL_ACCESS'];
const PRIVILEGE_LEVELS = ['MINIMAL', 'DEFAULT', 'ELEVATED', 'PRIVILEGED'];
const CLK_TCK = 100;
const MAX_OUTPUT = 16 * 1024 * 1024;

/** The effective policy of a call: the call's policy over the tool's defaults, spec defaults last. */
export function effectivePolicy(call: Pick<ToolCall, 'policy'>, descriptor: Partial<ToolDescriptor>): { network: string; privilege: string; wallMs: number; cpuMs: number; retries: number; needsWorktree: boolean } {
  const p: Partial<ExecutionPolicy> = call.policy ?? {};
  const network = p.networkPolicy || 'DENY_ALL';
  const privilege = p.privilegeLevel || 'MINIMAL';
  if (!NETWORK_POLICIES.includes(network)) throw new ValidationError('INVALID_ARGUMENT', `unknown network_policy ${network}`);
  if (!PRIVILEGE_LEVELS.includes(privilege)) throw new ValidationError('INVALID_ARGUMENT', `unknown privilege_level ${privilege}`);
  const limits = [durationToMs(p.timeout, 0), Number(p.budgetWallMs ?? 0n), (descriptor.defaultTimeoutS ?? 0) * 1000].filter((x) => x > 0);
  return {
    network,
    privilege,
    wallMs: limits.length ? Math.min(...limits) : 60_000,
    cpuMs: Number(p.budgetCpuMs ?? 0n),
    retries: descriptor.idempotent ? (p.maxRetries ?? 0) : 0, // never retry a tool with side effects
    needsWorktree: Boolean(p.worktreeRequired || descriptor.needsWorktree),
  };
}

/** Runs local tools. */
export class LocalTools {
  private readonly specs = new Map<string, LocalToolSpec>();
  private readonly validators = new Map<string, { input?: ValidateFunction; output?: ValidateFunction }>();
  private readonly running = new Map<string, number>();
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private isolation: Promise<boolean> | undefined;

  constructor(specs: readonly LocalToolSpec[] = []) {
    for (const s of specs) this.add(s);
  }

  /** Reads specs from a JSON file: `[{descriptor, command, outputContentType?}]`. @throws ValidationError CONFIG_INVALID. */
  static fromFile(path: string): LocalTools {
    try {
      return new LocalTools(JSON.parse(readFileSync(path, 'utf8')) as LocalToolSpec[]);
    } catch (err) {
      throw new ValidationError('CONFIG_INVALID', `tool manifest ${path}: ${String(err)}`, { cause: err });
    }
  }

  /** Adds a tool. @throws ValidationError CONFIG_INVALID for a schema that does not compile or an empty command. */
  add(spec: LocalToolSpec): void {
    if (!spec.command.length) throw new ValidationError('CONFIG_INVALID', `tool ${spec.descriptor.toolName} has no command`);
    const compile = (schema?: string) => {
      if (!schema || /^https?:\/\//.test(schema)) return undefined;
      try {
        return this.ajv.compile(JSON.parse(schema) as object);
      } catch (err) {
        throw new ValidationError('CONFIG_INVALID', `tool ${spec.descriptor.toolName}: schema does not compile: ${String(err)}`, { cause: err });
      }
    };
    const input = compile(spec.descriptor.inputSchema);
    const output = compile(spec.descriptor.outputSchema);
    this.specs.set(spec.descriptor.toolName, spec);
    this.validators.set(spec.descriptor.toolName, { ...(input ? { input } : {}), ...(output ? { output } : {}) });
  }

  /** Descriptors of every tool (for the catalog). */
  descriptors(): (Partial<ToolDescriptor> & { toolName: string })[] {
    return [...this.specs.values()].map((s) => s.descriptor);
  }

  has(toolName: string): boolean {
    return this.specs.has(toolName);
  }

  /**
   * Runs one call to completion.
   * @throws ValidationError INVALID_ARGUMENT (arguments); EcpsError UNSUPPORTED (network isolation unavailable
   *   here), CONFLICT (EGRESS_RESTRICTED for a tool without `egressAllow`); ToolRunError for timeouts, budgets,
   *   cancellation, failures, invalid output and EGRESS_DENIED (the tool tried a destination outside its list).
   */
  async run(call: ToolCall, ctx: RunContext = {}): Promise<RunResult> {
    const spec = this.specs.get(call.toolName);
    if (!spec) throw new EcpsError('NOT_FOUND', `unknown tool ${call.toolName}`);
    const policy = effectivePolicy(call, spec.descriptor);
    const args = this.arguments(call, spec);
    const restricted = policy.network === 'EGRESS_RESTRICTED';
    if (restricted && !spec.egressAllow?.length) throw new EcpsError('CONFLICT', `egress_not_allowed: ${call.toolName} declares no egress destinations for EGRESS_RESTRICTED`);
    const isolate = policy.network === 'DENY_ALL' || restricted;
    if (isolate && !(await this.canIsolate())) throw new EcpsError('UNSUPPORTED', `network_policy ${policy.network} needs network namespaces (unshare) on this host`);
    const max = spec.descriptor.maxConcurrency ?? 0;
    const now = this.running.get(call.toolName) ?? 0;
    if (max > 0 && now >= max) throw new ToolRunError('TOOL_BUSY', `${call.toolName} already runs ${now} call(s) (max ${max})`);
    this.running.set(call.toolName, now + 1);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await this.once(spec, args, policy, isolate, ctx);
          return { ...r, attempts: attempt };
        } catch (err) {
          const retryable = err instanceof ToolRunError && err.failure === 'TOOL_FAILED';
          if (!retryable || attempt > policy.retries || ctx.signal?.aborted) throw err;
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** (attempt - 1))));
        }
      }
    } finally {
      this.running.set(call.toolName, (this.running.get(call.toolName) ?? 1) - 1);
    }
  }

  private arguments(call: ToolCall, spec: LocalToolSpec): Uint8Array {
    const ct = call.contentType.split(';')[0]!.trim().toLowerCase();
    if (ct && ct !== 'application/json' && !ct.endsWith('+json')) throw new ValidationError('INVALID_ARGUMENT', `arguments must be JSON, not ${call.contentType}`);
    let value: unknown = {};
    if (call.args.length) {
      try {
        value = JSON.parse(new TextDecoder().decode(call.args)) as unknown;
      } catch {
        throw new ValidationError('INVALID_ARGUMENT', 'arguments are not JSON');
      }
    }
    const validate = this.validators.get(spec.descriptor.toolName)?.input;
    if (validate && !validate(value)) throw new ValidationError('INVALID_ARGUMENT', `invalid_arguments: ${this.ajv.errorsText(validate.errors)}`);
    return new TextEncoder().encode(JSON.stringify(value));
  }

  private canIsolate(): Promise<boolean> {
    this.isolation ??= new Promise((resolve) => {
      const p = spawn('unshare', ['--user', '--map-root-user', '--net', 'true'], { stdio: 'ignore' });
      p.on('error', () => resolve(false));
      p.on('exit', (code) => resolve(code === 0));
    });
    return this.isolation;
  }

  /** One attempt; under EGRESS_RESTRICTED inside the allow-list proxy, which fails the run if it refused anything. */
  private async once(spec: LocalToolSpec, args: Uint8Array, policy: ReturnType<typeof effectivePolicy>, isolate: boolean, ctx: RunContext): Promise<Omit<RunResult, 'attempts'>> {
    if (policy.network !== 'EGRESS_RESTRICTED') return this.spawnTool(spec, spec.command, args, policy, isolate, ctx);
    const dir = mkdtempSync(join(tmpdir(), 'sw4rm-egress-'));
    const proxy = await EgressProxy.start(join(dir, 'proxy.sock'), spec.egressAllow ?? []);
    try {
      // loopback up (we are root of the fresh namespace), then the forwarder, which starts the tool
      const command = ['sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, '-e', NAMESPACE_FORWARDER, proxy.socketPath, ...spec.command];
      const result = await this.spawnTool(spec, command, args, policy, true, ctx).catch((err: unknown) => {
        if (proxy.denied.length && !(err instanceof ToolRunError && err.failure === 'CANCELLED')) throw deniedError(spec, proxy.denied);
        throw err;
      });
      if (proxy.denied.length) throw deniedError(spec, proxy.denied);
      return result;
    } finally {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private spawnTool(spec: LocalToolSpec, command: readonly string[], args: Uint8Array, policy: ReturnType<typeof effectivePolicy>, isolate: boolean, ctx: RunContext): Promise<Omit<RunResult, 'attempts'>> {
    const scratch = ctx.cwd ? undefined : mkdtempSync(join(tmpdir(), 'sw4rm-tool-'));
    const cwd = ctx.cwd ?? scratch!;
    const minimal = policy.privilege === 'MINIMAL';
    const env = minimal ? { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: cwd, LANG: 'C.UTF-8' } : { ...process.env };
    const [cmd, ...rest] = isolate ? ['unshare', '--user', '--map-root-user', '--net', '--', ...command] : command;
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(cmd!, rest, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let outBytes = 0;
      let errTail = '';
      let failure: ToolRunError | undefined;
      const kill = (f: ToolRunError) => {
        failure ??= f;
        try {
          process.kill(-child.pid!, 'SIGKILL'); // the whole process group
        } catch {
          // already gone
        }
      };
      const wall = setTimeout(() => kill(new ToolRunError('WALL_TIMEOUT', `${spec.descriptor.toolName} ran past ${policy.wallMs} ms`)), policy.wallMs);
      const cpu =
        policy.cpuMs > 0
          ? setInterval(() => {
              const used = cpuMsOf(child.pid!);
              if (used !== undefined && used > policy.cpuMs) kill(new ToolRunError('CPU_BUDGET_EXCEEDED', `${spec.descriptor.toolName} used ${used} ms of CPU (budget ${policy.cpuMs} ms)`));
            }, 20)
          : undefined;
      const onAbort = () => kill(new ToolRunError('CANCELLED', `${spec.descriptor.toolName} was cancelled`));
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (b: Buffer) => {
        outBytes += b.length;
        if (outBytes > MAX_OUTPUT) return kill(new ToolRunError('INVALID_OUTPUT', `more than ${MAX_OUTPUT} bytes of output`));
        out.push(b);
        ctx.onData?.(new Uint8Array(b));
      });
      child.stderr.on('data', (b: Buffer) => {
        errTail = (errTail + b.toString('utf8')).slice(-2000);
      });
      child.stdin.on('error', () => undefined); // a tool that ignores its input
      child.stdin.end(args);
      const done = () => {
        clearTimeout(wall);
        if (cpu) clearInterval(cpu);
        ctx.signal?.removeEventListener('abort', onAbort);
        if (scratch) rmSync(scratch, { recursive: true, force: true });
      };
      child.on('error', (err) => {
        done();
        reject(new ToolRunError('TOOL_FAILED', `cannot start ${spec.command[0]}: ${err.message}`));
      });
      child.on('close', (code, sig) => {
        done();
        if (failure) return reject(failure);
        if (code !== 0) return reject(new ToolRunError('TOOL_FAILED', `${spec.descriptor.toolName} exited ${code ?? sig}${errTail ? `: ${errTail.trim()}` : ''}`));
        const stdout = new Uint8Array(Buffer.concat(out));
        const contentType = spec.outputContentType ?? 'application/json';
        const validate = this.validators.get(spec.descriptor.toolName)?.output;
        if (validate) {
          let value: unknown;
          try {
            value = JSON.parse(new TextDecoder().decode(stdout)) as unknown;
          } catch {
            return reject(new ToolRunError('INVALID_OUTPUT', 'output is not JSON'));
          }
          if (!validate(value)) return reject(new ToolRunError('INVALID_OUTPUT', this.ajv.errorsText(validate.errors)));
        }
        resolve({ stdout, contentType, summary: `exit 0 in ${Date.now() - started} ms` });
      });
    });
  }
}

const deniedError = (spec: LocalToolSpec, denied: readonly string[]) =>
  new ToolRunError('EGRESS_DENIED', `${spec.descriptor.toolName} tried to reach ${[...new Set(denied)].join(', ')} (allowed: ${(spec.egressAllow ?? []).join(', ')})`);

/** CPU time (user + system, ms) of a process from /proc, or undefined when it is gone or /proc is absent. */
function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
    return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}
