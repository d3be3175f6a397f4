// Interop with Cyclone's own ddsperf, through a KeyedSeq peer built on our binding (test/support/ddsperf-peer.ts):
// ddsperf pub -> our reader and our writer -> ddsperf sub with no sample lost, and ddsperf ping <-> our pong.
import { afterEach, describe, expect, it } from '@jest/globals';
import { startProcess, waitFor, type NodeScriptHandle } from '@ecps/testkit';
import { DdsperfPeer } from './support/ddsperf-peer';
import { DOMAINS } from './domains';

const domain = String(DOMAINS.ddsperf);
let peer: DdsperfPeer | undefined;
let tool: NodeScriptHandle | undefined;

afterEach(async () => {
  await tool?.stop();
  peer?.close();
  tool = peer = undefined;
});

/** The "lost" counts and the last "total" of ddsperf sub's per-second lines. */
function subTotals(lines: readonly string[]): { total: number; lost: number[] } {
  const figures = lines.map((l) => /size (\d+) total (\d+) lost (\d+) delta \d+ lost (\d+)/.exec(l)).filter((m) => m !== null);
  return { total: Number(figures.at(-1)?.[2] ?? 0), lost: figures.flatMap((m) => [Number(m[3]), Number(m[4])]) };
}

describe('ddsperf interop (KeyedSeq on DDSPerfRDataKS / DDSPerfRPingKS / DDSPerfRPongKS)', () => {
  it('ddsperf pub -> our reader: every sample, lost 0', async () => {
    peer = new DdsperfPeer(DOMAINS.ddsperf, false);
    const stats = peer.readData();
    tool = startProcess('ddsperf', ['-i', domain, '-D', '3', 'pub', '20kHz', 'size', '100']);
    expect(await tool.exited).toBe(0);
    await waitFor(() => stats.received >= 10_000, 'samples from ddsperf pub', 10_000);
    expect(stats.writers).toBe(1);
    expect(stats.lost).toBe(0);
  });

  it('our writer -> ddsperf sub: lost 0 on every line, and ddsperf exits clean', async () => {
    peer = new DdsperfPeer(DOMAINS.ddsperf, false);
    tool = startProcess('ddsperf', ['-i', domain, '-D', '4', '-Qsamples:20000', 'sub']);
    const writer = peer.dataWriter();
    await waitFor(() => writer.matched() > 0, 'ddsperf sub to match our writer', 10_000);
    const baggage = new Uint8Array(88).fill(0xee); // 100 bytes with seq and key, as `ddsperf pub size 100`
    let seq = 0;
    while (seq < 20_000) {
      if (writer.write(seq, baggage)) seq++;
      else await new Promise((resolve) => setTimeout(resolve, 1)); // history full: wait for acknowledgements
      if (seq % 256 === 0) writer.flush();
    }
    writer.flush();
    expect(await tool.exited).toBe(0);
    const { total, lost } = subTotals(tool.lines);
    expect(total).toBe(20_000);
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.every((n) => n === 0)).toBe(true);
  });

  it('ddsperf ping <-> our pong: round trips measured, every endpoint matched', async () => {
    peer = new DdsperfPeer(DOMAINS.ddsperf, true);
    peer.servePongs();
    tool = startProcess('ddsperf', ['-i', domain, '-D', '4', '-Qroundtrips:200', 'ping']);
    expect(await tool.exited).toBe(0); // 1 would mean too few round trips or an endpoint ddsperf expected did not match
    const latency = tool.lines.map((l) => /size \d+ mean ([\d.]+)us min [\d.]+us 50% ([\d.]+)us .* cnt (\d+)/.exec(l)).filter((m) => m !== null);
    expect(latency.length).toBeGreaterThan(0);
    expect(latency.reduce((n, m) => n + Number(m[3]), 0)).toBeGreaterThanOrEqual(200);
    expect(peer.pongs).toBeGreaterThanOrEqual(200);
    expect(Number(latency.at(-1)![2])).toBeGreaterThan(0);
  });
});
