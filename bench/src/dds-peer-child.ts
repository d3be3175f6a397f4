// SPDX-License-Identifier: Apache-2.0
// The other process of the DDS benchmarks (cases/dds.bench.ts), on our transport:
//   pub <domain> <size> <seconds>   publishes `size`-byte envelopes on bench/tp as fast as the reliable protocol lets
//                                   it (1000 in flight), for `seconds`
//   pong <domain>                   answers every event on bench/ping with the same event on bench/pong
// Prints "ready" once it is set up. CYCLONEDDS_URI comes from the parent (loopback only).
import type { EcpsEvent } from '@ecps/core';
import { ddsTransport } from '@ecps/transport-dds';

const [mode, domainArg, sizeArg, secondsArg] = process.argv.slice(2);
const domainId = Number(domainArg);
const transport = ddsTransport({ nodeId: `bench-${mode}`, domainId, historyLimit: 4096, maxPendingPublishes: 65_536 });
await transport.connect();

if (mode === 'pub') {
  const data = new Uint8Array(Number(sizeArg));
  const until = performance.now() + Number(secondsArg) * 1000;
  let i = 0;
  const event = (): EcpsEvent => ({ id: `tp-${i++}`, source: 'urn:ecps:bench-pub', type: 'ecps.ext.bench', data });
  console.log('ready');
  const lane = async () => {
    while (performance.now() < until) await transport.publish('bench/tp', event(), { qos: 1 });
  };
  await Promise.all(Array.from({ length: 1000 }, lane));
} else if (mode === 'pong') {
  await transport.subscribe('bench/ping', (event) => transport.publish('bench/pong', event, { qos: 1 }));
  console.log('ready');
  await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
} else {
  throw new Error(`unknown mode ${mode}`);
}
await transport.close();
