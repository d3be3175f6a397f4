// SPDX-License-Identifier: Apache-2.0
// Child process of the memory test (run with --expose-gc): runs one operation on a (large) log and prints the most
// memory it held at once. Every 20 ms it forces a full garbage collection and samples what is still reachable (JS heap
// plus array buffers), so the figure is what the code retains, not when V8 chooses to collect; peak RSS is printed
// alongside.
//   measure-memory cli <eaplog arguments...>   the eaplog CLI (stdout counted, not kept)
//   measure-memory append <path>               EaplogWriter.open (reads the whole file), one append, close
import { runEaplogCli } from '../src/cli';
import { EaplogWriter } from '../src/writer';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
let retainedPeak = 0;
let heapPeak = 0;
let buffersPeak = 0;
const sample = (): void => {
  gc();
  const usage = process.memoryUsage();
  retainedPeak = Math.max(retainedPeak, usage.heapUsed + usage.arrayBuffers);
  heapPeak = Math.max(heapPeak, usage.heapUsed);
  buffersPeak = Math.max(buffersPeak, usage.arrayBuffers);
};
sample();
const baseline = retainedPeak;
const sampler = setInterval(sample, 20);

const [mode, ...args] = process.argv.slice(2);
let code = 0;
let stdoutBytes = 0;
if (mode === 'cli') {
  code = await runEaplogCli(args, { stdout: (t) => void (stdoutBytes += t.length), stderr: (t) => void process.stderr.write(t) });
} else if (mode === 'append') {
  const writer = await EaplogWriter.open(args[0] as string, { fsync: 'never' });
  await writer.append(new Uint8Array(100).fill(1));
  await writer.close();
} else throw new Error(`unknown mode ${mode}`);
clearInterval(sampler);
const kib = (bytes: number): number => Math.round(bytes / 1024);
process.stdout.write(`${JSON.stringify({ code, stdoutBytes, retainedKiB: kib(retainedPeak - baseline), heapKiB: kib(heapPeak), arrayBuffersKiB: kib(buffersPeak), maxRssKiB: process.resourceUsage().maxRSS })}\n`);
