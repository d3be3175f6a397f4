// SPDX-License-Identifier: Apache-2.0
// The transports: raw framing against swtpm's character-device mode, the simulator framing's failure paths.
import { afterEach, expect, it, describe } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import { ManualClock } from '@ecps/core';
import { freePort, startSwtpmCharDev, waitFor } from '@ecps/testkit';
import { bootPolicy, measurementDigest } from '../src/measured-boot';
import { TpmKeyProvider } from '../src/tpm-key-provider';
import { deviceTransport, streamTransport, tcpTransport } from '../src/transport';
import { QuoteVerifier, enrollAttestationKey } from '../src/verifier';
import { describeTpm } from './swtpm-fixture';

// GetRandom(8): a harmless command with a known shape.
const GET_RANDOM = Uint8Array.from(Buffer.from('80010000000c0000017b0008', 'hex'));

describeTpm('raw framing (what /dev/tpmrm0 carries) against swtpm chardev', () => {
  it('runs keys, measurements and a verified quote over a socket pair', async () => {
    const chardev = await startSwtpmCharDev();
    const tpm = await TpmKeyProvider.open({ transport: streamTransport(chardev.stream) });
    try {
      await tpm.generateKey('k', 'ecdsa-p256');
      const signature = await tpm.sign('k', Uint8Array.of(1, 2, 3));
      expect(await tpm.verify('k', Uint8Array.of(1, 2, 3), signature)).toBe(true);
      await tpm.measure('firmware', 0, 'fw');
      const verifier = new QuoteVerifier();
      const ak = enrollAttestationKey((await tpm.attestationKey()).publicArea);
      const report = await tpm.attest('ak', verifier.challenge());
      expect(verifier.verify(report, { ak, policy: bootPolicy([{ name: 'firmware', pcr: 0, digest: measurementDigest('fw') }]) }).log).toHaveLength(1);
    } finally {
      await tpm.close();
      await chardev.stop();
    }
  });
});

describe('simulator framing over TCP: failures', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  async function server(onData: (socket: Socket, chunk: Buffer) => void): Promise<{ port: number; connections: number }> {
    const state = { port: 0, connections: 0 };
    const s = createServer((socket) => {
      state.connections++;
      socket.on('data', (chunk) => onData(socket, chunk));
      socket.on('error', () => undefined);
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    state.port = (s.address() as { port: number }).port;
    return state;
  }

  it('fails with UNAVAILABLE when nothing listens', async () => {
    const transport = tcpTransport({ port: await freePort() });
    await expect(transport.transmit(GET_RANDOM)).rejects.toMatchObject({ name: 'TpmError', code: 'UNAVAILABLE' });
    await transport.close();
  });

  it('times out a TPM that never answers, and reconnects for the next command', async () => {
    const silent = await server(() => undefined);
    const clock = new ManualClock();
    const transport = tcpTransport({ port: silent.port, timeoutMs: 5_000, clock });
    const pending = transport.transmit(GET_RANDOM);
    await waitFor(() => silent.connections === 1, 'a connection');
    clock.advance(5_000);
    await expect(pending).rejects.toMatchObject({ code: 'TIMEOUT' });
    const again = transport.transmit(GET_RANDOM);
    await waitFor(() => silent.connections === 2, 'a new connection');
    clock.advance(5_000);
    await expect(again).rejects.toMatchObject({ code: 'TIMEOUT' });
    await transport.close();
  });

  it('refuses a response that declares an impossible size, without buffering it', async () => {
    const liar = await server((socket) => socket.write(Buffer.from('ffffffff', 'hex')));
    const transport = tcpTransport({ port: liar.port });
    await expect(transport.transmit(GET_RANDOM)).rejects.toMatchObject({ name: 'TpmError', code: 'INTERNAL' });
    await transport.close();
  });

  it('a device path that cannot be opened is UNAVAILABLE', async () => {
    const transport = deviceTransport('/nonexistent/tpmrm0');
    await expect(transport.transmit(GET_RANDOM)).rejects.toMatchObject({ name: 'TpmError', code: 'UNAVAILABLE' });
    await transport.close();
  });
});
