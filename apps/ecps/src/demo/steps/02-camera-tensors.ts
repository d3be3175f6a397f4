// SPDX-License-Identifier: Apache-2.0
// A camera node publishes LTP tensors: a small synthetic RGB image (one DATA frame) and a feature map larger than
// the 1 MiB chunk size (chunked, reassembled and acknowledged on the other side).
import { createHash } from 'node:crypto';
import { createTensor, tensorToBytes, type ReceivedTensor, type Tensor } from '@ecps/ltp';
import type { DemoStep } from '../step';

const TOPIC = 'perception/camera';

function syntheticImage(height: number, width: number): Tensor {
  const pixels = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inCube = x > width * 0.2 && x < width * 0.4 && y > height * 0.5 && y < height * 0.75;
      pixels[i] = inCube ? 220 : (x * 255) / width;
      pixels[i + 1] = inCube ? 30 : (y * 255) / height;
      pixels[i + 2] = inCube ? 30 : 128;
    }
  }
  return createTensor('u8', [height, width, 3], pixels);
}

function featureMap(channels: number, size: number): Tensor {
  const data = new Float32Array(channels * size * size);
  let seed = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    data[i] = Math.sin(i / 97) + (seed >>> 0) / 2 ** 34; // a smooth signal plus sensor noise
  }
  return createTensor('f32', [channels, size, size], data);
}

const digest = (t: Tensor) => createHash('sha256').update(tensorToBytes(t)).digest('hex').slice(0, 16);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

const step: DemoStep = {
  title: 'A camera streams LTP tensors: one image frame and a chunked feature map',
  async run(ctx) {
    const camera = await ctx.createNode('camera');
    const perception = await ctx.createNode('perception');
    const received: ReceivedTensor[] = [];
    let both!: () => void;
    const done = new Promise<void>((resolve) => (both = resolve));
    await perception.ltp.subscribe(TOPIC, (t) => {
      const how = t.reassembled ? `reassembled from ${t.totalChunks} chunks` : 'one DATA frame';
      ctx.log(`perception ← ${t.tensor.dtype}[${t.tensor.shape.join('×')}] frame=${t.frameId} (${how}, ${t.codec}) sha256 ${digest(t.tensor)}…`);
      received.push(t);
      if (received.length === 2) both();
    });

    const image = syntheticImage(240, 320);
    const sent = await camera.ltp.publish(TOPIC, image, { frameId: 'camera_optical' });
    ctx.log(`camera     → image u8[240×320×3] ${mib(image.data.byteLength)} → ${mib(sent.payloadBytes)} zstd, tensor id ${sent.tensorId}, sha256 ${digest(image)}…`);

    const features = featureMap(8, 384);
    const big = await camera.ltp.publish(TOPIC, features, { frameId: 'camera_optical' });
    ctx.log(
      `camera     → features f32[8×384×384] ${mib(features.data.byteLength)} → ${mib(big.payloadBytes)} zstd in ${big.chunks} chunks ` +
        `(LTP's default chunk is 1 MiB less 1 KiB for headers), sha256 ${digest(features)}…`,
    );
    await done;
    const [first, second] = received;
    if (digest(first!.tensor) !== digest(image) || digest(second!.tensor) !== digest(features)) throw new Error('tensor mismatch');
    // Over a broker the receiver's LTPAck arrives a round trip after the data: give it a moment.
    for (const deadline = Date.now() + 5000; camera.ltp.stats().acksOk === 0 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const stats = camera.ltp.stats();
    if (stats.acksOk === 0) throw new Error('the chunked tensor was never acknowledged');
    ctx.held('camera', `both tensors arrived bit-identical (SHA-256 compared); the chunked one was acknowledged, ${stats.chunksRepeated} chunks resent`);
  },
};

export default step;
