// SPDX-License-Identifier: Apache-2.0
// Child of the eaplog streaming bench: reads one log and prints its peak resident set (KiB).
//   ours <path>  validateEaplog (the streamed validator)
//   raw <path>   a bare sequential read in 1 MiB chunks with zlib.crc32 over each
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { validateEaplog } from '@ecps/eaplog';

const [mode, path] = process.argv.slice(2) as [string, string];
if (mode === 'ours') {
  const report = await validateEaplog(path);
  if (!report.valid) throw new Error(`bench log invalid: ${report.errors[0]?.reason}`);
} else {
  const handle = await open(path, 'r');
  const buffer = new Uint8Array(1024 * 1024);
  let crc = 0;
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    crc = crc32(buffer.subarray(0, bytesRead), crc);
    position += bytesRead;
  }
  await handle.close();
}
process.stdout.write(`${process.resourceUsage().maxRSS}\n`);
