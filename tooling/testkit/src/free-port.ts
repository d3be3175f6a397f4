// SPDX-License-Identifier: Apache-2.0
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

// Ports the kernel hands out as the local end of outgoing connections. A port from this range that was free when a
// test picked it can be taken by any client socket (of this test run or another) before the server binds it, and a
// member restarted on its old port can find it taken: that made a CI run fail with EADDRINUSE. So test ports come
// from below the range, where only another explicit bind can take them.
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // not Linux: the IANA dynamic range
  }
  return 49152;
}

const LOWEST = 20_000;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function kernelPick(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, never one this process handed out before, and outside the
 * kernel's ephemeral range (so no outgoing connection can take it before the caller binds it).
 */
export async function freePort(): Promise<number> {
  const highest = ephemeralRangeStart() - 1;
  for (let attempt = 0; highest > LOWEST && attempt < 100; attempt++) {
    const port = randomInt(LOWEST, highest + 1);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  // no room below the ephemeral range on this machine: let the kernel choose
  for (;;) {
    const port = await kernelPick();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
