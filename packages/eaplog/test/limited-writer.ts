// SPDX-License-Identifier: Apache-2.0
// Child process of the write-failure test, run under a file size limit (prlimit --fsize): appends `size`-byte
// records in bursts until the writer fails, then prints what each append did as JSON. Message k is filled with k.
import { isEcpsError } from '@ecps/core';
import { EaplogWriter } from '../src/writer';

const [path, sizeArg] = process.argv.slice(2) as [string, string];
const size = Number(sizeArg);
const writer = await EaplogWriter.create(path, { fsync: 'never' });
const outcomes: string[] = [];
let k = 0;
while (!outcomes.some((o) => o !== 'ok') && k < 100_000) {
  // bursts of several records, so one write carries several staged records and may be cut short inside one
  const burst = Array.from({ length: 5 }, () => writer.append(new Uint8Array(size).fill(k++ & 0xff)));
  for (const result of await Promise.allSettled(burst)) {
    outcomes.push(result.status === 'fulfilled' ? 'ok' : isEcpsError(result.reason) ? result.reason.code : String(result.reason));
  }
}
const after = await writer.append(new Uint8Array(size)).then(
  () => 'ok',
  (error: unknown) => (isEcpsError(error) ? error.code : String(error)),
);
await writer.close().catch(() => undefined);
process.stdout.write(JSON.stringify({ outcomes, after, messageCount: writer.messageCount, byteSize: writer.byteSize }));
