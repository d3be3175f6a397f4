// The transport conformance suite over Cyclone DDS: two participants in this process, then one here and one in
// another process (real DDS discovery and UDP on loopback between them).
import { afterAll } from '@jest/globals';
import { describeTransportConformance, startTransportHost, type TransportHost } from '@ecps/testkit';
import { ddsTransport } from '../src/index';
import { DOMAINS } from './domains';
import { BINDING_ENV } from './support/binding';

describeTransportConformance('dds, one process', async () => ({
  a: ddsTransport({ nodeId: 'a', domainId: DOMAINS.conformance }),
  b: ddsTransport({ nodeId: 'b', domainId: DOMAINS.conformance }),
  teardown: async () => undefined,
}));

let host: TransportHost | undefined;
afterAll(async () => host?.stop());

describeTransportConformance(
  'dds, two processes',
  async () => {
    host ??= await startTransportHost(new URL('./support/remote-host.ts', import.meta.url).pathname, BINDING_ENV);
    return {
      a: ddsTransport({ nodeId: 'a', domainId: DOMAINS.conformanceProcesses }),
      b: await host.create({ nodeId: 'b', domainId: DOMAINS.conformanceProcesses }),
      teardown: async () => undefined,
    };
  },
  { settleMs: 200 },
);
