// Wildcard filters over DDS: a reader is attached to every topic the filter matches, as its writers are discovered
// (in this process or another); the topic prefix and the spec's name mapping apply to filters too.
import { afterAll, describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { sleep, startTransportHost, waitFor, type TransportHost } from '@ecps/testkit';
import { DOMAINS } from './domains';
import { testNodes } from './support/nodes';
import { BINDING_ENV } from './support/binding';

const domainId = DOMAINS.wildcards;
const event = (id: string): EcpsEvent => ({ id, source: 'urn:ecps:w', type: 'ecps.ext.test', data: Uint8Array.of(1) });

const { node, open } = testNodes(domainId);
let host: TransportHost | undefined;
afterAll(async () => host?.stop());

describe('wildcard subscriptions on DDS', () => {
  it('follow topics that another process starts writing after the subscription exists', async () => {
    host ??= await startTransportHost(new URL('./support/remote-host.ts', import.meta.url).pathname, BINDING_ENV);
    const remote = await host.create({ nodeId: 'remote', domainId });
    await remote.connect();
    open.push(remote);
    const sub = await node('local');
    const got: Array<[string, string]> = [];
    await sub.subscribe('sensors/+/temp', (e, topic) => void got.push([topic, e.id]));
    await sleep(200);
    await remote.publish('sensors/arm1/temp', event('t1'));
    await remote.publish('sensors/arm2/temp', event('t2'));
    await remote.publish('sensors/arm1/pressure', event('p1'));
    await remote.publish('sensors/arm1/temp/raw', event('r1'));
    await waitFor(() => got.length === 2, 'both temperatures', 10_000);
    await sleep(300);
    expect(got.sort()).toEqual([
      ['sensors/arm1/temp', 't1'],
      ['sensors/arm2/temp', 't2'],
    ]);
  });

  it('pick up the retained history of a topic written before the subscription', async () => {
    const pub = await node('pub');
    await pub.publish('fleet/r1/state', event('before'));
    const sub = await node('sub');
    const got: string[] = [];
    await sub.subscribe('fleet/#', (e) => void got.push(e.id));
    await waitFor(() => got.includes('before'), 'the retained event', 5000);
    await pub.publish('fleet/r2/state', event('after'));
    await waitFor(() => got.includes('after'), 'the new topic', 5000);
  });

  it('apply the topic prefix: a prefixed node sees its own namespace only, under unprefixed names', async () => {
    const plain = await node('plain');
    const site = await node('site', { topicPrefix: 'site1/' });
    const got: string[] = [];
    await site.subscribe('#', (_e, topic) => void got.push(topic));
    await plain.publish('site1/a', event('in'));
    await plain.publish('site2/a', event('out'));
    await site.publish('b/c', event('own'));
    await waitFor(() => got.length >= 2, 'the prefixed topics', 5000);
    await sleep(300);
    expect(got.sort()).toEqual(['a', 'b/c']);
  });

  it('refuses two topics that map to one DDS name, and reports other characters as the mapping leaves them', async () => {
    const a = await node('a');
    await a.publish('cam.front/img', event('x'));
    const refused = await a.publish('cam_front/img', event('y')).catch((e: unknown) => e);
    expect(isEcpsError(refused, 'INVALID_ARGUMENT')).toBe(true);
    // a subscriber that never used the original name sees the DDS name mapped back
    const b = await node('b');
    const topics: string[] = [];
    await b.subscribe('+/img', (_e, topic) => void topics.push(topic));
    await waitFor(() => topics.length === 1, 'the retained event', 5000);
    expect(topics).toEqual(['cam_front/img']);
  });
});
