// SPDX-License-Identifier: Apache-2.0
// Opens and closes `cycles` pairs of transports (a subscriber and a publisher that reach each other), then prints
// "done" and returns: the process must then end on its own. A thread-safe function, timer, socket or thread that
// survives close() keeps the event loop alive and the process with it.
import type { EcpsEvent } from '@ecps/core';
import { ddsTransport } from '../../src/index';

const [domainArg, cyclesArg] = process.argv.slice(2);
const domainId = Number(domainArg);
async function main(): Promise<void> {
  for (let i = 0; i < Number(cyclesArg); i++) {
    const sub = ddsTransport({ nodeId: `life-sub-${i}`, domainId });
    const pub = ddsTransport({ nodeId: `life-pub-${i}`, domainId });
    await sub.connect();
    await pub.connect();
    let got!: () => void;
    const received = new Promise<void>((resolve) => (got = resolve));
    await sub.subscribe('life/cycle', () => got());
    const event: EcpsEvent = { id: `c-${i}`, source: 'urn:ecps:life', type: 'ecps.ext.test', data: Uint8Array.of(i & 0xff) };
    await pub.publish('life/cycle', event, { qos: 1 });
    await received;
    await pub.close();
    await sub.close();
  }
  console.log('done');
}

void main();
