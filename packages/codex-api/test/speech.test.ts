// SPDX-License-Identifier: Apache-2.0
// Voice end to end with real engines: espeak-ng speaks a command into a WAV file, the server's pocketsphinx provider
// transcribes it (Debian's pocketsphinx + pocketsphinx-en-us, offline), and the bot starts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { parseWav, resampleTo16k } from '../src/index';
import { createHarness, eventually, LOOP_BOT, type Harness, type Json } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ STT_PROVIDER: 'pocketsphinx' });
  h.writeBot('alpha/main.js', LOOP_BOT);
  for (const [id, name] of [['alpha-1', 'Alpha One'], ['collector', 'Web Collector']]) {
    await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id, name, blueprint: 'alpha/main.js', deployment_config: { interpreter: 'node' } } });
  }
});
afterAll(async () => {
  await h?.close();
});

it('a spoken "start alpha one" starts bot alpha-1', async () => {
  const wav = join(h.dir, 'command.wav');
  // libpulse (linked by espeak-ng even when it writes a file) makes its runtime folder under TMPDIR unless told where
  execFileSync('espeak-ng', ['-s', '140', '-w', wav, 'start alpha one'], { env: { ...process.env, PULSE_RUNTIME_PATH: join(h.dir, 'pulse') } });
  const { samples, sampleRateHz } = parseWav(readFileSync(wav));
  const pcm = resampleTo16k(samples, sampleRateHz);

  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws/command/${h.ids.operator}?token=${h.tokens.operator}`);
  const replies: Json[] = [];
  socket.on('message', (data) => replies.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  for (let offset = 0; offset < pcm.byteLength; offset += 32_000) {
    socket.send(Buffer.from(pcm.buffer, pcm.byteOffset + offset, Math.min(32_000, pcm.byteLength - offset)), { binary: true });
  }
  socket.send(JSON.stringify({ type: 'audio_end', session_id: 'voice' }));
  await eventually(() => (replies.length >= 2 ? true : undefined), 30_000);
  expect(replies[0]).toMatchObject({ type: 'transcript', text: 'start alpha one' });
  expect(replies[1].actions).toEqual([expect.objectContaining({ intent: 'start_bot', bot_id: 'alpha-1', status: 'executed' })]);
  await eventually(async () => ((await h.call('GET', '/api/v1/bots/alpha-1', { token: h.tokens.viewer })).body.status === 'running' ? true : undefined));
  socket.close();
  await new Promise((resolve) => socket.once('close', resolve));
}, 60_000);
