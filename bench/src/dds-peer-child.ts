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
  // A window of IN_FLIGHT publishes: each one answered lets the next go (no async function per publish).
  const IN_FLIGHT = 1000;
  await new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    let ended = false;
    const answered = () => {
      inFlight--;
      fill();
    };
    const fill = () => {
      if (ended) return;
      if (performance.now() >= until) {
        ended = true;
        return resolve();
      }
      while (inFlight < IN_FLIGHT) {
        inFlight++;
        transport.publish('bench/tp', event(), { qos: 1 }).then(answered, (error: unknown) => {
          ended = true;
          reject(error as Error);
        });
      }
    };
    fill();
  });
} else if (mode === 'pong') {
  await transport.subscribe('bench/ping', (event) => transport.publish('bench/pong', event, { qos: 1 }));
  console.log('ready');
  await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
} else {
  throw new Error(`unknown mode ${mode}`);
}
await transport.close();
