// The spec's QoS tables on the wire: what each writer offers, as another participant discovers it, and what that
// means for late joiners, best-effort traffic, stale EAP actions and requests sent before their server exists.
import { beforeAll, afterAll, describe, expect, it } from '@jest/globals';
import { silentLogger, type EcpsEvent, type Logger } from '@ecps/core';
import { sleep, waitFor } from '@ecps/testkit';
import { Participant } from '../src/participant';
import { DOMAINS } from './domains';
import { testNodes } from './support/nodes';

const domainId = DOMAINS.qos;
let seq = 0;
const ev = (type: string, extra: Partial<EcpsEvent> = {}): EcpsEvent => ({
  id: `q-${seq++}`,
  source: 'urn:ecps:qa',
  type,
  time: new Date().toISOString(),
  data: Uint8Array.of(seq & 0xff),
  ...extra,
});

const { node } = testNodes(domainId);

describe('writer QoS per traffic (spec §8 mapping, §9 history table)', () => {
  let observer: Participant;
  const offered = new Map<string, string>();
  beforeAll(() => {
    observer = new Participant({ domainId, logger: silentLogger });
    const reader = observer.createPublicationReader(() => {
      for (const [name, , reliability, durability, depth] of observer.binding.takePublications(reader)) {
        const entry = `${reliability ? 'RELIABLE' : 'BEST_EFFORT'} ${['VOLATILE', 'TRANSIENT_LOCAL', 'TRANSIENT', 'PERSISTENT'][durability]} ${depth < 0 ? 'KEEP_ALL' : `KEEP_LAST(${depth})`}`;
        offered.set(name, offered.has(name) && !offered.get(name)!.split(' | ').includes(entry) ? `${offered.get(name)} | ${entry}` : entry);
      }
    });
  });
  afterAll(() => observer.close());

  it('EAP and MCP: RELIABLE, TRANSIENT_LOCAL, KEEP_LAST(4); LTP: BEST_EFFORT, VOLATILE, KEEP_ALL; others and request/reply: RELIABLE, TRANSIENT_LOCAL, KEEP_ALL', async () => {
    const a = await node('qa');
    await a.publish('eap', ev('ecps.eap.action'));
    await a.publish('site-1/eap', ev('ecps.eap.action'));
    await a.publish('mcp', ev('ecps.mcp.prompt'));
    await a.publish('qos/camera', ev('ecps.ltp.tensor'));
    await a.publish('qos/ext', ev('ecps.ext.test'));
    await a.request('Qos.Nobody', ev('ecps.mep.query'), { timeoutMs: 50 }).catch(() => undefined);
    const expected = {
      'ecps/eap': 'RELIABLE TRANSIENT_LOCAL KEEP_LAST(4)',
      'ecps/site_1/eap': 'RELIABLE TRANSIENT_LOCAL KEEP_LAST(4)',
      'ecps/mcp': 'RELIABLE TRANSIENT_LOCAL KEEP_LAST(4)',
      'ecps/qos/camera': 'BEST_EFFORT VOLATILE KEEP_ALL',
      'ecps/qos/ext': 'RELIABLE TRANSIENT_LOCAL KEEP_ALL',
      'ecps/Qos_Nobody/request': 'RELIABLE TRANSIENT_LOCAL KEEP_ALL',
    };
    await waitFor(() => Object.keys(expected).every((t) => offered.has(t)), 'every writer discovered', 5000);
    expect(Object.fromEntries(Object.keys(expected).map((t) => [t, offered.get(t)]))).toEqual(expected);
  });
});

describe('what the QoS means', () => {
  it('a late joiner gets the last 4 EAP actions and MCP prompts of each sender, and the last 16 of other reliable traffic', async () => {
    const a = await node('qa');
    for (let i = 0; i < 6; i++) await a.publish('eap', ev('ecps.eap.action', { id: `eap-${i}` }));
    for (let i = 0; i < 6; i++) await a.publish('mcp', ev('ecps.mcp.prompt', { id: `mcp-${i}` }));
    for (let i = 0; i < 20; i++) await a.publish('qos/late', ev('ecps.ext.test', { id: `ext-${i}` }));
    const b = await node('qb');
    const got: Record<string, string[]> = { eap: [], mcp: [], 'qos/late': [] };
    for (const topic of Object.keys(got)) await b.subscribe(topic, (e) => void got[topic]!.push(e.id));
    await waitFor(() => got['eap']!.length === 4 && got['mcp']!.length === 4 && got['qos/late']!.length === 16, 'the retained history', 5000);
    await sleep(200);
    expect(got).toEqual({
      eap: ['eap-2', 'eap-3', 'eap-4', 'eap-5'],
      mcp: ['mcp-2', 'mcp-3', 'mcp-4', 'mcp-5'],
      'qos/late': Array.from({ length: 16 }, (_, i) => `ext-${i + 4}`),
    });
  });

  it('EAP samples expire after the profile EAP timeout: a late joiner gets none of the old ones', async () => {
    const a = await node('qa');
    await a.publish('eap', ev('ecps.eap.action', { id: 'expired' }));
    await sleep(1300); // standard profile: EAP timeout_s = 1.0
    const b = await node('qb');
    const got: string[] = [];
    await b.subscribe('eap', (e) => void got.push(e.id));
    await a.publish('eap', ev('ecps.eap.action', { id: 'fresh' }));
    await waitFor(() => got.includes('fresh'), 'the fresh action', 5000);
    expect(got).toEqual(['fresh']);
    expect(b.stats().droppedStale).toBe(0);
  });

  it('drops EAP actions older than the EAP timeout on arrival (spec §5.2), and keeps fresh ones and ones without a time', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => void warnings.push(m) };
    const a = await node('qa');
    const b = await node('qb', { logger });
    const got: string[] = [];
    await b.subscribe('eap', (e) => void got.push(e.id));
    await sleep(100);
    await a.publish('eap', ev('ecps.eap.action', { id: 'old', time: new Date(Date.now() - 5000).toISOString() }));
    await a.publish('eap', ev('ecps.eap.action', { id: 'now' }));
    const { time: _time, ...untimed } = ev('ecps.eap.action', { id: 'untimed' });
    await a.publish('eap', untimed);
    await waitFor(() => got.length === 2, 'two actions', 5000);
    await sleep(100);
    expect(got).toEqual(['now', 'untimed']);
    expect(b.stats().droppedStale).toBe(1);
    expect(warnings).toContain('dds: stale EAP action dropped');
  });

  it('BEST_EFFORT traffic reaches a qos 0 subscription, not a reliable one, and the mismatch is reported', async () => {
    const warnings: Array<{ message: string; hint?: unknown }> = [];
    const logger: Logger = { ...silentLogger, warn: (message, fields) => void warnings.push({ message, hint: fields?.['hint'] }) };
    const a = await node('qa');
    const b = await node('qb', { logger });
    const reliable: string[] = [];
    const bestEffort: string[] = [];
    await b.subscribe('qos/frames', (e) => void reliable.push(e.id));
    await b.subscribe('qos/frames', (e) => void bestEffort.push(e.id), { qos: 0 });
    await sleep(200);
    for (let i = 0; i < 5; i++) await a.publish('qos/frames', ev('ecps.ltp.tensor', { id: `f-${i}` }));
    await waitFor(() => bestEffort.length === 5, 'the best-effort frames', 5000);
    await waitFor(() => warnings.some((w) => w.message.includes('incompatible RELIABILITY')), 'the mismatch warning', 5000);
    expect(reliable).toEqual([]);
    expect(warnings.find((w) => w.message.includes('incompatible RELIABILITY'))!.hint).toMatch(/qos: 0/);
  });

  it('a request sent before its server exists is still answered (TRANSIENT_LOCAL request topic)', async () => {
    const a = await node('qa');
    const pending = a.request('Qos.Late', ev('ecps.ext.test', { data: Uint8Array.of(42) }), { timeoutMs: 5000 });
    await sleep(300);
    const b = await node('qb');
    await b.serve('Qos.Late', (req) => ev('ecps.ext.test.reply', { data: req.data }));
    expect([...(await pending).data]).toEqual([42]);
  });
});
