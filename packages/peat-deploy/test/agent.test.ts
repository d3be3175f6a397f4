// SPDX-License-Identifier: Apache-2.0
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VirtualClock } from '@ecps/peat';
import { ConfigPackageAdapter, DeploymentAgent, DeploymentTracker, FolderBlobStore, HttpBlobStore, parseDirective } from '../src/index';
import type { DeploymentDirective, DeploymentStatus, NodeProfile } from '../src/index';

let root: string;
let server: Server;
let base: string;
const blobs = new Map<string, Buffer>();
const stalled: ServerResponse[] = [];
let requests = 0;

/** A loopback blob mirror: /good/<hash> serves the blob (with Range), /bad/ flips a byte, /slow/ sends half and stalls. */
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'peat-deploy-'));
  server = createServer((req, res) => {
    requests++;
    const [, mode, hash] = (req.url ?? '').split('/');
    const blob = blobs.get(decodeURIComponent(hash ?? ''));
    if (!blob) return void res.writeHead(404).end();
    if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': blob.length }).end();
    const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
    let body = blob.subarray(start);
    if (mode === 'bad') {
      body = Buffer.from(body);
      body[0]! ^= 0xff;
    }
    res.writeHead(start > 0 ? 206 : 200, { 'content-length': body.length });
    if (mode === 'slow') {
      res.write(body.subarray(0, body.length >> 1));
      stalled.push(res);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const r of stalled) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

function publish(content: string): { hash: string; size: number } {
  const b = Buffer.from(content.repeat(2000));
  const hash = `sha256:${createHash('sha256').update(b).digest('hex')}`;
  blobs.set(hash, b);
  return { hash, size: b.length };
}

let seq = 0;
function directive(blob: { hash: string; size: number }, target: string, options: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): DeploymentDirective {
  return parseDirective({
    directive_id: `d-${++seq}`,
    issued_at: new Date(1_750_000_000_000).toISOString(),
    issuer_node_id: 'c2',
    issuer_formation_id: null,
    scope: { type: 'formation', formation_id: 'cell-1' },
    artifact: { blob_hash: blob.hash, size_bytes: blob.size, artifact_type: { type: 'config_package', target_path: target }, sha256: null, name: 'detector-config', version: '1' },
    capabilities: ['detector'],
    config: null,
    options,
    ...extra,
  });
}

const profile = (node_id: string, cell = 'cell-1'): NodeProfile => ({
  node_id,
  formation_ids: { mesh: 'm', cell, zone: null, company: null },
  resources: { gpu_memory_mb: 0, memory_mb: 1024, storage_mb: 1024 },
  capabilities: [],
  attributes: {},
});

function agent(nodeId: string, mirror: 'good' | 'bad' | 'slow' = 'good', cell = 'cell-1') {
  const clock = new VirtualClock();
  const reports: DeploymentStatus[] = [];
  const a = new DeploymentAgent({
    nodeId,
    clock,
    profile: () => profile(nodeId, cell),
    source: new HttpBlobStore(`${base}/${mirror}`),
    local: new FolderBlobStore(join(root, nodeId)),
    adapters: [new ConfigPackageAdapter()],
    report: (s) => reports.push(s),
  });
  return { a, clock, reports, states: () => reports.map((r) => r.state) };
}

describe('checklist 19: the node agent', () => {
  it('pending at once, downloading ≤ 99 %, activating and active at 100 % with an instance; the file is installed and the capability advertised', async () => {
    const blob = publish('v1;');
    const n = agent('ok1');
    const target = join(root, 'ok1-target', 'detector.toml');
    const d = directive(blob, target);
    expect(n.a.accept(d)).toBe(true);
    expect(n.reports[0]).toMatchObject({ state: 'pending', progress_percent: 0 });
    expect(await n.a.settled(d.directive_id)).toBe('active');
    expect([...new Set(n.states())]).toEqual(['pending', 'downloading', 'activating', 'active']);
    for (const r of n.reports) {
      if (r.state === 'downloading') expect(r.progress_percent).toBeLessThanOrEqual(99);
      if (r.state === 'activating' || r.state === 'active') expect(r.progress_percent).toBe(100);
    }
    expect(n.reports.at(-1)!.instance_id).toMatch(/^config-/);
    expect(await readFile(target, 'utf8')).toBe('v1;'.repeat(2000));
    expect(await readdir(join(root, 'ok1', 'sha256'))).toEqual([blob.hash.slice(7)]);
    expect(await readdir(join(root, 'ok1', 'tmp'))).toEqual([]);
    expect(n.a.advertisedCapabilities()).toEqual(['detector']);
    expect(n.a.accept(d)).toBe(false); // already taken
  });

  it('a node out of scope ignores the directive', () => {
    const n = agent('elsewhere', 'good', 'cell-9');
    expect(n.a.accept(directive(publish('x;'), join(root, 'never')))).toBe(false);
    expect(n.reports).toEqual([]);
  });

  it('a hash mismatch fails the deployment and leaves nothing behind', async () => {
    const n = agent('bad1', 'bad');
    const target = join(root, 'bad1-target');
    const d = directive(publish('v-bad;'), target);
    n.a.accept(d);
    expect(await n.a.settled(d.directive_id)).toBe('failed');
    expect(n.reports.at(-1)).toMatchObject({ state: 'failed', error_message: 'hash mismatch' });
    expect(await readdir(join(root, 'bad1', 'tmp'))).toEqual([]);
    await expect(readFile(target)).rejects.toThrow();
  });

  it('an unknown artifact type fails as unsupported', async () => {
    const n = agent('unk');
    const d = directive(publish('u;'), join(root, 'unk-t'), {}, {});
    const odd = { ...d, artifact: { ...d.artifact, artifact_type: { type: 'quantum' } } };
    n.a.accept(odd);
    expect(await n.a.settled(d.directive_id)).toBe('failed');
    expect(n.reports.at(-1)!.error_message).toBe('unsupported artifact type');
  });

  it('not active within timeout_seconds → failed, and the download is aborted', async () => {
    const n = agent('slow1', 'slow');
    const d = directive(publish('slow;'), join(root, 'slow1-target'), { timeout_seconds: 30 });
    n.a.accept(d);
    for (let i = 0; i < 50 && !n.states().includes('downloading'); i++) await new Promise((r) => setTimeout(r, 10));
    n.clock.advance(29_999);
    expect(n.states().at(-1)).toBe('downloading');
    n.clock.advance(1);
    expect(n.reports.at(-1)).toMatchObject({ state: 'failed', error_message: 'not active within 30 s' });
    expect(await n.a.settled(d.directive_id)).toBe('failed');
    expect(await readdir(join(root, 'slow1', 'tmp'))).toEqual([]);
  });

  it('auto_activate false waits for an explicit activate', async () => {
    const n = agent('manual');
    const target = join(root, 'manual-t');
    const d = directive(publish('m;'), target, { auto_activate: false });
    n.a.accept(d);
    expect(await n.a.settled(d.directive_id)).toBe('downloading');
    await expect(readFile(target)).rejects.toThrow();
    await n.a.activate(d.directive_id);
    expect(n.states().at(-1)).toBe('active');
    expect(await readFile(target, 'utf8')).toBe('m;'.repeat(2000));
  });
});

describe('checklist 19: rollback below the threshold restores the previous artifact', () => {
  it('v2 replaces v1 on two nodes, fails its hash on the third; 66.7 % < 100 % → rollback: v1 is back on disk', async () => {
    const nodes = [agent('r1'), agent('r2'), agent('r3')];
    const target = (id: string) => join(root, `${id}-target`, 'detector.toml');
    const v1 = publish('v1;');
    for (const n of nodes) {
      const d = directive(v1, target(n.a['options'].nodeId));
      n.a.accept(d);
      expect(await n.a.settled(d.directive_id)).toBe('active');
    }
    // node r3 now fetches from a mirror serving corrupted bytes
    nodes[2] = { ...nodes[2]!, a: new DeploymentAgent({ ...nodes[2]!.a['options'], source: new HttpBlobStore(`${base}/bad`) }) };
    const v2 = publish('v2;');
    const d2s = nodes.map((n) => directive(v2, target(n.a['options'].nodeId), { replace_existing: true, rollback_threshold_percent: 100 }, { directive_id: 'd-v2' }));
    const tracker = new DeploymentTracker(d2s[0]!, ['r1', 'r2', 'r3']);
    const before = nodes.map((n) => n.reports.length);
    nodes.forEach((n, i) => n.a.accept(d2s[i]!));
    for (const n of nodes) await n.a.settled('d-v2');
    nodes.forEach((n, i) => n.reports.slice(before[i]).forEach((r) => tracker.onStatus(r)));
    expect(await readFile(target('r1'), 'utf8')).toBe('v2;'.repeat(2000));
    const outcome = tracker.decide(1_750_000_001_000)!;
    expect(outcome).toMatchObject({ targets: 3, active: 2 });
    expect(outcome.success_percent).toBeCloseTo(66.667, 2);
    expect(outcome.rollback).toMatchObject({ action: 'rollback', issuer_node_id: 'c2' });
    for (const n of nodes) await n.a.control('d-v2', outcome.rollback!);
    for (const id of ['r1', 'r2']) expect(await readFile(target(id), 'utf8')).toBe('v1;'.repeat(2000));
    expect(nodes[0]!.reports.at(-1)).toMatchObject({ directive_id: 'd-v2', state: 'rolled_back' });
    const v1Id = nodes[0]!.reports[0]!.directive_id;
    expect(nodes[0]!.a.runningInstances().map((i) => i.directiveId)).toEqual([v1Id]);
  });
});

describe('checklist 19: the issuer decides once', () => {
  const d = (threshold: number | null) => parseDirective({
    directive_id: 'x', issued_at: new Date(0).toISOString(), issuer_node_id: 'c2', issuer_formation_id: null, scope: { type: 'broadcast' },
    artifact: { blob_hash: `sha256:${'0'.repeat(64)}`, size_bytes: 1, artifact_type: { type: 'config_package', target_path: '/x' }, sha256: null, name: null, version: null },
    capabilities: [], config: null, options: { rollback_threshold_percent: threshold, timeout_seconds: 10 },
  });
  const st = (node_id: string, state: DeploymentStatus['state']): DeploymentStatus => ({ directive_id: 'x', node_id, reported_at: '', state, progress_percent: 0, error_message: null, instance_id: null });

  it('early once the threshold is unreachable; nodes that report pending become targets', () => {
    const t = new DeploymentTracker(d(50), ['a', 'b']);
    t.onStatus(st('c', 'pending'));
    t.onStatus(st('a', 'failed'));
    expect(t.decide(1)).toBeUndefined(); // 2 of 3 can still succeed
    t.onStatus(st('b', 'failed'));
    expect(t.decide(2)).toMatchObject({ targets: 3, active: 0, rollback: { action: 'rollback' } });
  });
  it('at the deadline unfinished targets count as failed; 0 never rolls back; null never rolls back', () => {
    const t = new DeploymentTracker(d(60), ['a', 'b']);
    t.onStatus(st('a', 'active'));
    expect(t.decide(9_999)).toBeUndefined();
    expect(t.decide(10_000)).toMatchObject({ success_percent: 50, rollback: { action: 'rollback' } });
    const zero = new DeploymentTracker(d(0), ['a']);
    zero.onStatus(st('a', 'failed'));
    expect(zero.decide(0)!.rollback).toBeNull();
    const none = new DeploymentTracker(d(null), ['a']);
    none.onStatus(st('a', 'failed'));
    expect(none.decide(0)!.rollback).toBeNull();
  });
});

describe('the HTTP blob store', () => {
  it('resumes with a Range request and reports a missing blob as NOT_FOUND', async () => {
    const blob = publish('r;');
    const store = new HttpBlobStore(`${base}/good`);
    const chunks: Buffer[] = [];
    for await (const c of store.get(blob.hash, { offset: 100 })) chunks.push(Buffer.from(c));
    expect(Buffer.concat(chunks)).toEqual(blobs.get(blob.hash)!.subarray(100));
    expect(await store.has(blob.hash)).toBe(true);
    await expect((async () => {
      for await (const c of store.get(`sha256:${'f'.repeat(64)}`)) void c;
    })()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(requests).toBeGreaterThan(0);
  });
});
