// SPDX-License-Identifier: Apache-2.0
// Chunked transfers, checkpoints and resume, priorities between directives, and the confidence of a Degraded
// instance (spec §7). Blobs come from a loopback HTTP server and from local folders.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VirtualClock } from '@ecps/peat';
import { ConfigPackageAdapter, DeploymentAgent, FolderBlobStore, HttpBlobStore, TRANSFER_PROFILES, fetchBlob, parseDirective } from '../src/index';
import type { BlobRange, BlobStore, DeploymentDirective, DeploymentStatus } from '../src/index';

let root: string;
let server: Server;
let base: string;
const blobs = new Map<string, Buffer>();
/** Range headers the server saw, per blob hash. */
const ranges = new Map<string, string[]>();
/** Blobs whose next GET breaks off after this many bytes. */
const breakAfter = new Map<string, number>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'peat-transfer-'));
  server = createServer((req, res) => {
    const hash = decodeURIComponent((req.url ?? '').slice(1));
    const blob = blobs.get(hash);
    if (!blob) return void res.writeHead(404).end();
    ranges.set(hash, [...(ranges.get(hash) ?? []), req.headers.range ?? '']);
    const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
    const start = Number(m?.[1] ?? 0);
    const end = m?.[2] ? Number(m[2]) + 1 : blob.length;
    const body = blob.subarray(start, end);
    res.writeHead(m ? 206 : 200, { 'content-length': body.length });
    const cut = breakAfter.get(hash);
    if (cut !== undefined) {
      breakAfter.delete(hash);
      res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

function publish(size: number): { hash: string; hex: string; size: number; bytes: Buffer } {
  const bytes = randomBytes(size);
  const hex = createHash('sha256').update(bytes).digest('hex');
  blobs.set(`sha256:${hex}`, bytes);
  return { hash: `sha256:${hex}`, hex, size, bytes };
}

describe('chunked transfer with checkpoints', () => {
  it('asks the HTTP mirror for one range per chunk of the profile (edge: 64 KiB)', async () => {
    const b = publish(200 * 1024);
    const local = new FolderBlobStore(join(root, 'chunks'));
    const path = await fetchBlob(new HttpBlobStore(base), local, b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.edge });
    expect(Buffer.compare(await readFile(path), b.bytes)).toBe(0);
    expect(ranges.get(b.hash)).toEqual(['bytes=0-65535', 'bytes=65536-131071', 'bytes=131072-196607', 'bytes=196608-204799']);
  });

  it('an interrupted fetch keeps its checkpoint; the next one re-hashes the prefix and asks only for the rest', async () => {
    const b = publish(600 * 1024);
    breakAfter.set(b.hash, 300 * 1024);
    const local = new FolderBlobStore(join(root, 'resume'));
    const http = new HttpBlobStore(base);
    await expect(fetchBlob(http, local, b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.datacenter })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const ckpt = JSON.parse(await readFile(join(local.tmpDir(), `${b.hex}.ckpt`), 'utf8')) as { file: string; offset: number };
    expect(ckpt.offset).toBeGreaterThan(0);
    expect(ckpt.offset).toBeLessThanOrEqual(300 * 1024);
    const path = await fetchBlob(http, local, b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.datacenter });
    expect(Buffer.compare(await readFile(path), b.bytes)).toBe(0);
    expect(ranges.get(b.hash)).toEqual([`bytes=0-${b.size - 1}`, `bytes=${ckpt.offset}-${b.size - 1}`]);
    expect(await readdir(local.tmpDir())).toEqual([]); // partial file and checkpoint are gone
  });

  it('a corrupted partial file does not survive: the resumed fetch fails its hash and starts clean the next time', async () => {
    const b = publish(300 * 1024);
    breakAfter.set(b.hash, 100 * 1024);
    const local = new FolderBlobStore(join(root, 'corrupt'));
    const http = new HttpBlobStore(base);
    await expect(fetchBlob(http, local, b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.datacenter })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const ckpt = JSON.parse(await readFile(join(local.tmpDir(), `${b.hex}.ckpt`), 'utf8')) as { file: string; offset: number };
    const partial = join(local.tmpDir(), ckpt.file);
    const bytes = await readFile(partial);
    bytes[0]! ^= 0xff;
    await import('node:fs/promises').then((fs) => fs.writeFile(partial, bytes));
    await expect(fetchBlob(http, local, b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.datacenter })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH', message: 'hash mismatch' });
    expect(await readdir(local.tmpDir())).toEqual([]);
    expect(await local.has(b.hash)).toBe(false);
    await fetchBlob(http, local, b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.datacenter });
    expect(await local.has(b.hash)).toBe(true);
  });

  it('from a local folder too, chunk by chunk', async () => {
    const b = publish(150 * 1024);
    const mirror = new FolderBlobStore(join(root, 'mirror'));
    expect(await mirror.put(b.bytes)).toBe(b.hash);
    const seen: BlobRange[] = [];
    const counting: BlobStore = { has: (h) => mirror.has(h), get: (h, r) => (seen.push({ offset: r?.offset ?? 0, length: r?.length ?? -1 }), mirror.get(h, r)) };
    const path = await fetchBlob(counting, new FolderBlobStore(join(root, 'from-folder')), b.hash, b.hex, b.size, { transfer: TRANSFER_PROFILES.edge });
    expect(Buffer.compare(await readFile(path), b.bytes)).toBe(0);
    expect(seen).toEqual([{ offset: 0, length: 65536 }, { offset: 65536, length: 65536 }, { offset: 131072, length: 22528 }]);
  });
});

/** A folder mirror whose every chunk request waits until the test lets it through. */
class GatedMirror implements BlobStore {
  readonly calls: { hash: string; offset: number }[] = [];
  private gates: (() => void)[] = [];
  constructor(readonly inner: FolderBlobStore) {}
  has(hash: string): Promise<boolean> {
    return this.inner.has(hash);
  }
  async *get(hash: string, range: BlobRange = {}): AsyncIterable<Uint8Array> {
    this.calls.push({ hash, offset: range.offset ?? 0 });
    await new Promise<void>((r) => this.gates.push(r));
    yield* this.inner.get(hash, range);
  }
  /** Waits for `n` chunk requests, then lets them all through. */
  async release(n: number): Promise<void> {
    while (this.calls.length < n) await new Promise((r) => setImmediate(r));
    for (const g of this.gates.splice(0)) g();
  }
}

let seq = 0;
function directive(blob: { hash: string; size: number }, target: string, priority: string, capabilities: string[] = ['detector'], name = 'cfg'): DeploymentDirective {
  return parseDirective({
    directive_id: `t-${++seq}`,
    issued_at: new Date(1_750_000_000_000).toISOString(),
    issuer_node_id: 'c2',
    issuer_formation_id: null,
    scope: { type: 'broadcast' },
    artifact: { blob_hash: blob.hash, size_bytes: blob.size, artifact_type: { type: 'config_package', target_path: target }, sha256: null, name, version: '1' },
    capabilities,
    config: null,
    options: { priority },
  });
}

function agentOn(source: BlobStore, dir: string) {
  const reports: DeploymentStatus[] = [];
  const agent = new DeploymentAgent({
    nodeId: 'n1',
    clock: new VirtualClock(),
    profile: () => ({ node_id: 'n1', formation_ids: { mesh: 'm', cell: null, zone: null, company: null }, resources: { gpu_memory_mb: 0, memory_mb: 0, storage_mb: 0 }, capabilities: [], attributes: {} }),
    source,
    local: new FolderBlobStore(join(root, dir)),
    adapters: [new ConfigPackageAdapter()],
    report: (s) => reports.push(s),
    transfer: TRANSFER_PROFILES.edge,
  });
  return { agent, reports };
}

describe('priorities between directives', () => {
  it('a critical directive pauses a low one mid-transfer; the low one resumes from its checkpoint afterwards', async () => {
    const mirror = new FolderBlobStore(join(root, 'prio-mirror'));
    const low = publish(256 * 1024);
    const critical = publish(128 * 1024);
    await mirror.put(low.bytes);
    await mirror.put(critical.bytes);
    const gated = new GatedMirror(mirror);
    const { agent, reports } = agentOn(gated, 'prio-node');
    const dLow = directive(low, join(root, 'prio-target', 'low.toml'), 'low', ['low-cap'], 'low');
    const dCrit = directive(critical, join(root, 'prio-target', 'crit.toml'), 'critical', ['crit-cap'], 'crit');
    agent.accept(dLow);
    await gated.release(1); // low chunk 0
    await gated.release(2); // low chunk 1 is requested (and let through once the critical one arrived)
    agent.accept(dCrit);
    expect(agent.stats.paused).toBe(1);
    for (let n = 3; n <= 7; n++) await gated.release(n);
    expect(await agent.settled(dCrit.directive_id)).toBe('active');
    expect(await agent.settled(dLow.directive_id)).toBe('active');
    const order = gated.calls.map((c) => `${c.hash === low.hash ? 'low' : 'crit'}@${c.offset}`);
    // the paused chunk is asked for again only after the critical transfer; nothing of low is fetched twice from 0
    expect(order).toEqual(['low@0', 'low@65536', 'crit@0', 'crit@65536', 'low@65536', 'low@131072', 'low@196608']);
    const critActive = reports.findIndex((r) => r.directive_id === dCrit.directive_id && r.state === 'active');
    const lowActive = reports.findIndex((r) => r.directive_id === dLow.directive_id && r.state === 'active');
    expect(critActive).toBeLessThan(lowActive);
  });

  it('waiting transfers go highest priority first, then in order of acceptance', async () => {
    const mirror = new FolderBlobStore(join(root, 'queue-mirror'));
    const blobsByPrio = ['low', 'normal', 'high', 'normal'].map((p) => ({ p, b: publish(1024) }));
    for (const { b } of blobsByPrio) await mirror.put(b.bytes);
    const gated = new GatedMirror(mirror);
    const { agent } = agentOn(gated, 'queue-node');
    const first = publish(1024);
    await mirror.put(first.bytes);
    const d0 = directive(first, join(root, 'queue-target', 'first.toml'), 'low', ['c0'], 'first');
    agent.accept(d0); // holds the only transfer slot
    await new Promise((r) => setImmediate(r));
    const ds = blobsByPrio.map(({ p, b }, i) => directive(b, join(root, 'queue-target', `${i}.toml`), p, [`c${i + 1}`], `n${i}`));
    for (const d of ds) agent.accept(d);
    for (let n = 1; n <= 5; n++) await gated.release(n);
    for (const d of [d0, ...ds]) expect(await agent.settled(d.directive_id)).toBe('active');
    const order = gated.calls.map((c) => blobsByPrio.findIndex(({ b }) => b.hash === c.hash));
    expect(order).toEqual([-1, 2, 1, 3, 0]); // first (already running), high, normal, normal (later), low
  });
});

describe('a Degraded instance', () => {
  it('advertises its capabilities at half confidence; a healthy one at full', async () => {
    const mirror = new FolderBlobStore(join(root, 'deg-mirror'));
    const v1 = publish(2048);
    const v2 = publish(2048);
    await mirror.put(v1.bytes);
    await mirror.put(v2.bytes);
    const { agent } = agentOn(mirror, 'deg-node');
    const target = join(root, 'deg-target', 'same.toml');
    const d1 = directive(v1, target, 'normal', ['old-detector'], 'a');
    agent.accept(d1);
    expect(await agent.settled(d1.directive_id)).toBe('active');
    expect(await agent.capabilityFactors()).toEqual(new Map([['old-detector', 1]]));
    // a second package installed at the same path supersedes the first, which is then Degraded
    const d2 = directive(v2, target, 'normal', ['new-detector'], 'b');
    agent.accept(d2);
    expect(await agent.settled(d2.directive_id)).toBe('active');
    expect(await agent.capabilityFactors()).toEqual(new Map([['old-detector', 0.5], ['new-detector', 1]]));
  });
});
