// SPDX-License-Identifier: Apache-2.0
// Memory transport round trip (publish -> subscriber -> reply -> requester) against the same round trip made of
// direct calls. A transport never runs a handler inside publish(), so each direction costs at least one promise
// job: the baseline calls the same handlers through exactly one promise job per hop (the least any asynchronous
// delivery can do), with the same reply promise on the requester's side. Comparing against one bare async call
// instead (the first version of this case) charged the transport for the bench's own handler and reply code.
import type { EcpsEvent, Transport } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { asyncOpsPerSecond, type BenchCase } from '../harness';

let a: Transport;
let b: Transport;
let resolveReply: (() => void) | undefined;
let resolveDirect: (() => void) | undefined;
const hop: Promise<void> = Promise.resolve();
const event: EcpsEvent = { id: 'bench', source: 'urn:ecps:a', type: 'ecps.ext.bench', data: new Uint8Array(100) };

const handler = async (e: EcpsEvent): Promise<EcpsEvent> => ({ ...e, source: 'urn:ecps:b' });

// the baseline's "network": a publish that schedules the receiver's handler as one promise job and returns a
// settled promise, wired to the same handler code as ours
const directPublish = (receive: () => unknown): Promise<void> => {
  void hop.then(receive);
  return hop;
};
const directPong = (_id: string) => resolveDirect?.();
const directPing = async (e: EcpsEvent) => {
  const reply = await handler(e);
  await directPublish(() => directPong(reply.id));
};

const roundTrip: BenchCase = {
  name: 'memory transport round trip, 100 B (vs the same handlers called directly, one promise job per hop)',
  unit: 'ops/s',
  higherIsBetter: true,
  target: 0.5,
  async setup() {
    const bus = new MemoryBus();
    a = memoryTransport({ nodeId: 'a', bus });
    b = memoryTransport({ nodeId: 'b', bus });
    await b.subscribe('ping', async (e) => {
      await b.publish('pong', await handler(e));
    });
    await a.subscribe('pong', () => resolveReply?.());
  },
  async teardown() {
    await a.close();
    await b.close();
  },
  ours: () =>
    asyncOpsPerSecond(() => {
      const reply = new Promise<void>((resolve) => (resolveReply = resolve));
      return a.publish('ping', event).then(() => reply);
    }),
  baseline: () =>
    asyncOpsPerSecond(() => {
      const reply = new Promise<void>((resolve) => (resolveDirect = resolve));
      return directPublish(() => directPing(event)).then(() => reply);
    }),
};

export default roundTrip;
