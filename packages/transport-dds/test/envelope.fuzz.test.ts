// SPDX-License-Identifier: Apache-2.0
// Fuzz target for the DDS receive path (shared harness; ECPS_FUZZ_MS / ECPS_FUZZ_SEED): the bytes of one sample as
// Cyclone hands them over go through decodeEnvelope. Its refusals must be DECODE_ERROR; what it accepts must stay
// within the sample (no byte invented), keep at most MAX_EXTENSIONS extensions, and survive a re-encode unchanged.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { FuzzInvariantError, loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { MAX_EXTENSIONS, decodeEnvelope, encodeEnvelope } from '../src/index';

const sample = (e: EcpsEvent) => encodeEnvelope(e);
const same = (a: EcpsEvent, b: EcpsEvent) => JSON.stringify({ ...a, data: [...a.data] }) === JSON.stringify({ ...b, data: [...b.data] });

const target: FuzzTarget = {
  name: 'dds-envelope',
  seeds: [
    sample({ id: 'e-1', source: 'urn:ecps:arm', type: 'ecps.eap.action', time: '2026-01-01T00:00:00.000Z', extensions: { correlationid: 'c-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, data: Uint8Array.of(8, 1, 18, 0) }),
    sample({ id: '', source: '', type: '', data: new Uint8Array(0) }),
    sample({ id: 'x', source: 's', type: 't', datacontenttype: 'application/json', data: new Uint8Array(300) }),
    ...loadCorpus(join(import.meta.dirname, 'fuzz-corpus', 'dds-envelope')),
  ],
  isExpected: (error) => isEcpsError(error, 'DECODE_ERROR'),
  run(input) {
    const event = decodeEnvelope(Buffer.from(input));
    if (event.data.length > input.length) throw new FuzzInvariantError(`${event.data.length} data bytes from a ${input.length}-byte sample`);
    if (Object.keys(event.extensions ?? {}).length > MAX_EXTENSIONS) throw new FuzzInvariantError('too many extensions accepted');
    let again: EcpsEvent;
    try {
      again = decodeEnvelope(Buffer.from(encodeEnvelope(event)));
    } catch (error) {
      throw new FuzzInvariantError(`an accepted event does not re-encode: ${String(error)}`);
    }
    if (!same(event, again)) throw new FuzzInvariantError('re-encoding changed the event');
  },
};

describe('DDS envelope fuzz target', () => {
  it('refuses bad samples with DECODE_ERROR only, and keeps every invariant', async () => {
    const report = await runFuzzTarget(target);
    expect(report.failure).toBeUndefined();
    expect(report.crashes).toBe(0);
    expect(report.untypedExceptions).toBe(0);
  });
});
