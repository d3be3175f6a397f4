// SPDX-License-Identifier: Apache-2.0
// The transports one test file opens on its own domain, every one of them closed after each test.
import { afterEach } from '@jest/globals';
import type { Transport } from '@ecps/core';
import { ddsTransport, type DdsTransport, type DdsTransportOptions } from '../../src/index';

export interface TestNodes {
  /** A connected transport on the file's domain (`defaults`, then `options`), closed after the test. */
  node(nodeId: string, options?: Partial<DdsTransportOptions>): Promise<DdsTransport>;
  /** Other transports to close after the test (one hosted in a child process, say). */
  readonly open: Transport[];
}

/** Call at the top level of a test file: registers the `afterEach` that closes what the test opened. */
export function testNodes(domainId: number, defaults: Partial<DdsTransportOptions> = {}): TestNodes {
  const open: Transport[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });
  return {
    open,
    async node(nodeId, options = {}) {
      const t = ddsTransport({ nodeId, domainId, ...defaults, ...options });
      await t.connect();
      open.push(t);
      return t;
    },
  };
}
