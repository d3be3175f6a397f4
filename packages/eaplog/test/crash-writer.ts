// SPDX-License-Identifier: Apache-2.0
// Child process of the SIGKILL test: appends deterministic records to a log until killed.
// Message k is crashMessage(k); numbering continues from the records already in the file.
import { EaplogWriter } from '../src/writer';
import { crashMessage } from './crash-message';

const [path, policy] = process.argv.slice(2) as [string, string];
const writer = await EaplogWriter.open(path, { fsync: policy === 'always' ? 'always' : policy === 'never' ? 'never' : { intervalMs: 5 } });
let k = writer.messageCount;
process.stdout.write(`ready ${k}\n`);
// Bounded so the test's file stays small; past the cap the writer idles until it is killed.
const CAP_BYTES = 16 * 1024 * 1024;
while (writer.byteSize < CAP_BYTES) {
  // bursts of concurrent appends exercise group commit
  const burst = [];
  for (let i = 0; i < 8; i++) burst.push(writer.append(crashMessage(k++)));
  await Promise.all(burst);
}
setInterval(() => undefined, 1000);
