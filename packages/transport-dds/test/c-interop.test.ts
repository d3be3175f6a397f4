// Envelopes both ways between our transport and a C program built here from idlc's output for the same IDL.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startProcess, waitFor, type NodeScriptHandle } from '@ecps/testkit';
import type { EcpsEvent } from '@ecps/core';
import { ddsTransport, type DdsTransport } from '../src/index';
import { buildCProgram, type BuiltProgram } from './support/c-peer';
import { DOMAINS } from './domains';

const domainId = DOMAINS.cInterop;

const sent: EcpsEvent[] = [
  {
    id: 'a1b2c3d4-0000-4000-8000-000000000001',
    source: 'urn:ecps:js-node',
    type: 'ecps.mcp.prompt',
    time: '2026-01-02T03:04:05.678Z',
    extensions: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', correlationid: 'c-1' },
    data: Uint8Array.from([0x0a, 0x07, 0x6d, 0x63, 0x70, 0x2f, 0x31, 0x2e, 0x30]),
  },
  // no time, no extensions, empty data, non-ASCII text
  { id: 'ünïcødé-✓', source: 'urn:ecps:js-node', type: 'ecps.ext.test', data: new Uint8Array(0) },
  // 48 KiB of data (fragmented on the wire) and a non-protobuf content type
  {
    id: 'big',
    source: 'urn:ecps:js-node',
    type: 'ecps.ext.test',
    datacontenttype: 'application/json',
    data: Uint8Array.from({ length: 48 * 1024 }, (_, i) => (i * 7) & 0xff),
  },
];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('interop with a C peer built from the same IDL', () => {
  let program: BuiltProgram;
  let peer: NodeScriptHandle | undefined;
  let node: DdsTransport;

  beforeAll(() => {
    program = buildCProgram('envelope_peer', 'envelope');
  });
  afterAll(async () => {
    await peer?.stop();
    await node?.close();
    program.remove();
  });

  it('the C peer decodes what we write, and we decode what it writes', async () => {
    node = ddsTransport({ nodeId: 'js-node', domainId });
    await node.connect();
    const replies: EcpsEvent[] = [];
    await node.subscribe('interop/from_c', (e) => void replies.push(e));
    peer = startProcess(program.path, [String(domainId), 'ecps/interop/to_c', 'ecps/interop/from_c', String(sent.length)]);
    await peer.waitForLine((l) => l === 'ready');
    for (const event of sent) await node.publish('interop/to_c', event);
    await waitFor(() => replies.length === sent.length, 'three answers from the C peer', 15_000);
    expect(await peer.exited).toBe(0);

    // what C saw: every field as we sent it (datacontenttype travels as an extension when it is not protobuf)
    const seen = peer.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(seen).toEqual(
      sent.map((e) => ({
        source: e.source,
        id: e.id,
        type: e.type,
        time: e.time ?? '',
        extensions: { ...e.extensions, ...(e.datacontenttype ? { datacontenttype: e.datacontenttype } : {}) },
        data: hex(e.data),
      })),
    );

    // what we read from C
    replies.forEach((reply, i) => {
      const original = sent[i]!;
      expect(reply.source).toBe('urn:ecps:c-peer');
      expect(reply.id).toBe(`c-${original.id}`);
      expect(reply.type).toBe(original.type);
      expect(reply.time).toBe(original.time);
      expect(reply.datacontenttype).toBe(original.datacontenttype ?? 'application/protobuf');
      expect(reply.extensions).toEqual({ ...original.extensions, peer: 'c' });
      expect(hex(reply.data)).toBe(hex(Uint8Array.from(original.data).reverse()));
    });
  });
});
