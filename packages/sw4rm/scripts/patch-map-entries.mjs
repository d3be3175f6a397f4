// SPDX-License-Identifier: Apache-2.0
// Post-generation step: map entries always carry their key and value on the wire, as the reference protobuf
// runtimes (C++, upb, Go, protobuf-es) encode them. ts-proto skips default keys/values inside map entries, which
// decodes the same but breaks byte-identical re-encoding of vectors. Usage: node patch-map-entries.mjs <gen dir>
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'src/gen';
const ENTRY = /export const (\w+_\w+Entry): MessageFns<\1> = \{\n  encode\(message: \1, writer: BinaryWriter = new BinaryWriter\(\)\): BinaryWriter \{\n([\s\S]*?)\n    return writer;\n  \},/g;
let patched = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
  const path = join(dir, file);
  const source = readFileSync(path, 'utf8');
  const out = source.replace(ENTRY, (block, _name, body) => {
    const unguarded = body
      // scalar key or value: always written
      .replace(/    if \(message\.(key|value) !== [^)]*\) \{\n      (writer\.[^\n]*;)\n    \}/g, '    $2')
      // message value: an absent value is written as an empty message
      .replace(/    if \(message\.value !== undefined\) \{\n      (\w+)\.encode\(message\.value, ([^\n]*);\n    \}/g, '    $1.encode(message.value ?? $1.create(), $2;');
    if (/\bif \(/.test(unguarded)) throw new Error(`${file}: map entry encoder not recognised: ${_name}`);
    patched++;
    return block.replace(body, unguarded);
  });
  if (out !== source) writeFileSync(path, out);
}
process.stdout.write(`map entries patched: ${patched}\n`);
