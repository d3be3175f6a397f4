// SPDX-License-Identifier: Apache-2.0
// ToolService and ConnectorService over real gRPC, with real executables: schemas, network isolation, budgets,
// streaming, cancellation, worktrees and privilege escalation.
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { createClient, durationFromMs } from '@ecps/sw4rm';
import type { ToolFrame } from '@ecps/sw4rm/proto';
import { startTools } from '../src/index';
import type { LocalToolSpec, RunningTools } from '../src/index';

const node = (script: string) => [process.execPath, '-e', script];
const readArgs = "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const a=JSON.parse(s);";
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

let peer: Server;
let peerPort = 0;
let workdir: string;
let running: RunningTools;
let asked = 0;

const specs = (): LocalToolSpec[] => [
  {
    descriptor: {
      toolName: 'echo',
      idempotent: true,
      inputSchema: JSON.stringify({ type: 'object', required: ['text'], properties: { text: { type: 'string' } } }),
      outputSchema: JSON.stringify({ type: 'object', required: ['echo'] }),
    },
    command: node(`${readArgs}process.stdout.write(JSON.stringify({echo:a.text}))})`),
  },
  { descriptor: { toolName: 'sleep' }, command: node('setTimeout(()=>{},60000)') },
  { descriptor: { toolName: 'spin' }, command: node('for(;;){}') },
  { descriptor: { toolName: 'fail' }, command: node("process.stderr.write('boom');process.exit(3)") },
  { descriptor: { toolName: 'liar', outputSchema: JSON.stringify({ type: 'object', required: ['ok'] }) }, command: node("process.stdout.write('{}')") },
  {
    descriptor: { toolName: 'connect' },
    command: node(`${readArgs}require('net').connect(a.port,'127.0.0.1').on('connect',()=>{process.stdout.write('{"connected":true}');process.exit(0)}).on('error',e=>{process.stderr.write(e.code);process.exit(1)})})`),
  },
  { descriptor: { toolName: 'ticks' }, command: node("let i=0;const t=setInterval(()=>{process.stdout.write('tick'+(++i)+'\\n');if(i===3){clearInterval(t)}},100)"), outputContentType: 'text/plain' },
  { descriptor: { toolName: 'forever-ticks' }, command: node("setInterval(()=>process.stdout.write('tick\\n'),50)"), outputContentType: 'text/plain' },
  { descriptor: { toolName: 'where', needsWorktree: true }, command: node('process.stdout.write(JSON.stringify({cwd:process.cwd()}))') },
  { descriptor: { toolName: 'root-thing' }, command: node("process.stdout.write('{}')") },
  {
    // through its proxy (CONNECT) and directly to the same port; prints what each got
    descriptor: { toolName: 'fetch' },
    egressAllow: [`127.0.0.1:${peerPort}`],
    command: node(
      `${readArgs}const u=new URL(process.env.HTTPS_PROXY);const out={};let n=0;const done=()=>{if(++n===2)process.stdout.write(JSON.stringify(out))};` +
        `require('http').request({host:u.hostname,port:u.port,method:'CONNECT',path:'127.0.0.1:'+a.port}).on('connect',(r,sk)=>{out.proxied=r.statusCode;sk.destroy();done()}).on('error',e=>{out.proxied=e.code;done()}).end();` +
        `require('net').connect(a.port,'127.0.0.1').on('connect',function(){out.direct='connected';this.destroy();done()}).on('error',e=>{out.direct=e.code;done()})})`,
    ),
  },
];

beforeAll(async () => {
  peer = createServer((s) => s.end());
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
  peerPort = (peer.address() as { port: number }).port;
  workdir = mkdtempSync(join(tmpdir(), 'tools-wt-'));
  running = await startTools({
    port: 0,
    tools: specs(),
    workdirOf: (agent) => (agent === 'bound-agent' ? workdir : undefined),
    approvePrivileged: async () => ++asked > 1,
  });
});
afterAll(async () => {
  await running.stop();
  peer.close();
  rmSync(workdir, { recursive: true, force: true });
});

describe('ToolService over gRPC (spec §3.14)', () => {
  const client = () => createClient('tool', `127.0.0.1:${running.port}`, { attempts: 1 });

  it('validates arguments and output against the declared schemas and reports failures', async () => {
    const t = client();
    try {
      const frame = await t.call({ callId: 'c1', toolName: 'echo', contentType: 'application/json', args: enc({ text: 'hi' }) });
      expect(frame).toMatchObject({ callId: 'c1', frameNo: 1n, final: true, contentType: 'application/json' });
      expect(JSON.parse(dec(frame.data))).toEqual({ echo: 'hi' });
      expect(dec(frame.summary)).toMatch(/^exit 0 in \d+ ms$/);
      await expect(t.call({ callId: 'c2', toolName: 'echo', args: enc({ nope: 1 }) })).rejects.toMatchObject({ grpcCode: status.INVALID_ARGUMENT });
      await expect(t.call({ callId: 'c3', toolName: 'echo', contentType: 'text/plain', args: enc({ text: 'x' }) })).rejects.toMatchObject({ grpcCode: status.INVALID_ARGUMENT });
      await expect(t.call({ callId: 'c4', toolName: 'nope' })).rejects.toMatchObject({ grpcCode: status.NOT_FOUND });
      await expect(t.call({ callId: 'c5', toolName: 'fail' })).rejects.toThrow(/TOOL_FAILED: fail exited 3: boom/);
      await expect(t.call({ callId: 'c6', toolName: 'liar' })).rejects.toThrow(/INVALID_OUTPUT/);
    } finally {
      t.close();
    }
  });

  it('enforces the execution policy: no network by default, wall and CPU budgets', async () => {
    const t = client();
    try {
      await expect(t.call({ callId: 'n1', toolName: 'connect', args: enc({ port: peerPort }) })).rejects.toThrow(/TOOL_FAILED: connect exited 1/);
      const open = await t.call({ callId: 'n2', toolName: 'connect', args: enc({ port: peerPort }), policy: { networkPolicy: 'EGRESS_UNRESTRICTED' } });
      expect(JSON.parse(dec(open.data))).toEqual({ connected: true });
      await expect(t.call({ callId: 'n3', toolName: 'connect', policy: { networkPolicy: 'EGRESS_RESTRICTED' } })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION }); // no allow-list
      await expect(t.call({ callId: 'w1', toolName: 'sleep', policy: { timeout: durationFromMs(300) } })).rejects.toMatchObject({ grpcCode: status.DEADLINE_EXCEEDED });
      await expect(t.call({ callId: 'w2', toolName: 'sleep', policy: { budgetWallMs: 300 } })).rejects.toThrow(/WALL_TIMEOUT/);
      await expect(t.call({ callId: 'cpu', toolName: 'spin', policy: { budgetCpuMs: 200, timeout: durationFromMs(20_000) } })).rejects.toMatchObject({ grpcCode: status.RESOURCE_EXHAUSTED, message: expect.stringMatching(/CPU_BUDGET_EXCEEDED/) });
    } finally {
      t.close();
    }
  }, 60_000);

  it('EGRESS_RESTRICTED: only allowed destinations, only through the proxy; anything else fails the call EGRESS_DENIED', async () => {
    const t = createClient('tool', `127.0.0.1:${running.port}`, { timeoutMs: 20_000 });
    const other = createServer((s) => s.end());
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const restricted = { networkPolicy: 'EGRESS_RESTRICTED' };
      const ok = await t.call({ callId: 'e1', toolName: 'fetch', args: enc({ port: peerPort }), policy: restricted });
      const seen = JSON.parse(dec(ok.data)) as { proxied: number; direct: string };
      expect(seen.proxied).toBe(200);
      expect(seen.direct).not.toBe('connected'); // no route around the proxy
      const port = (other.address() as { port: number }).port;
      const denied = t.call({ callId: 'e2', toolName: 'fetch', args: enc({ port }), policy: restricted });
      await expect(denied).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED, message: expect.stringContaining(`EGRESS_DENIED: fetch tried to reach 127.0.0.1:${port}`) });
    } finally {
      t.close();
      other.close();
    }
  }, 30_000);

  it('streams frames with increasing frame_no and a final frame, also when cancelled', async () => {
    const t = client();
    try {
      const frames: ToolFrame[] = [];
      const stream = t.callStream({ callId: 's1', toolName: 'ticks', stream: true });
      stream.on('data', (f: ToolFrame) => frames.push(f));
      await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
      expect(frames.map((f) => f.frameNo)).toEqual(frames.map((_, i) => BigInt(i + 1)));
      expect(frames.at(-1)!.final).toBe(true);
      expect(frames.slice(0, -1).every((f) => !f.final)).toBe(true);
      expect(frames.map((f) => dec(f.data)).join('')).toBe('tick1\ntick2\ntick3\n');

      const more: ToolFrame[] = [];
      const endless = t.callStream({ callId: 's2', toolName: 'forever-ticks', stream: true });
      endless.on('data', (f: ToolFrame) => more.push(f));
      const ended = new Promise((resolve, reject) => endless.on('end', resolve).on('error', reject));
      while (more.length < 2) await new Promise((r) => setTimeout(r, 20));
      expect(await t.cancel({ callId: 's2' })).toEqual({ callId: 's2', errorCode: 'CANCELLED', message: 'the call was cancelled' });
      await ended;
      expect(more.at(-1)).toMatchObject({ final: true });
      expect(dec(more.at(-1)!.summary)).toMatch(/CANCELLED/);
      expect((await t.cancel({ callId: 's2' })).errorCode).toBe('ALREADY_COMPLETED');
      expect((await t.cancel({ callId: 'never' })).errorCode).toBe('NOT_FOUND');
    } finally {
      t.close();
    }
  }, 30_000);

  it('runs worktree tools in the caller\'s worktree and asks a person before a PRIVILEGED call', async () => {
    const t = client();
    try {
      await expect(t.call({ callId: 'p0', toolName: 'where' }, { metadata: { 'sw4rm-agent-id': 'unbound' } })).rejects.toThrow(/worktree_not_bound/);
      const where = await t.call({ callId: 'p1', toolName: 'where' }, { metadata: { 'sw4rm-agent-id': 'bound-agent' } });
      expect(JSON.parse(dec(where.data))).toEqual({ cwd: workdir });
      await expect(t.call({ callId: 'p2', toolName: 'root-thing', policy: { privilegeLevel: 'PRIVILEGED' } })).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED });
      expect((await t.call({ callId: 'p3', toolName: 'root-thing', policy: { privilegeLevel: 'PRIVILEGED' } })).final).toBe(true);
      expect(asked).toBe(2);
    } finally {
      t.close();
    }
  });
});

describe('ConnectorService over gRPC (spec §3.14)', () => {
  it('registers providers (replacing their lists), describes tools, refuses bad descriptors', async () => {
    const c = createClient('connector', `127.0.0.1:${running.port}`);
    try {
      expect((await c.describeTools({ providerId: 'local' })).tools.map((t) => t.toolName)).toContain('echo');
      expect(await c.describeTools({ providerId: 'unknown' })).toEqual({ tools: [] });
      expect(await c.registerProvider({ providerId: 'search', tools: [{ toolName: 'web', inputSchema: '{"type":"object"}', idempotent: true }, { toolName: 'news' }] })).toEqual({ ok: true, reason: '' });
      expect(await c.registerProvider({ providerId: 'search', tools: [{ toolName: 'web2' }] })).toEqual({ ok: true, reason: '' });
      expect((await c.describeTools({ providerId: 'search' })).tools.map((t) => t.toolName)).toEqual(['web2']);
      expect((await c.registerProvider({ providerId: 'bad', tools: [{ toolName: 'x', inputSchema: '{nope' }] })).reason).toMatch(/^validation_error: x: input_schema/);
      expect((await c.registerProvider({ providerId: 'bad', tools: [{ toolName: 'x' }, { toolName: 'x' }] })).ok).toBe(false);
      // a registered provider without an executor on this hub
      const t = createClient('tool', `127.0.0.1:${running.port}`, { attempts: 1 });
      await expect(t.call({ callId: 'r1', providerId: 'search', toolName: 'web2' })).rejects.toMatchObject({ grpcCode: status.FAILED_PRECONDITION });
      t.close();
    } finally {
      c.close();
    }
  });
});
