// SPDX-License-Identifier: Apache-2.0
// A minimal protobuf field walker for tests: reads frames without the generated code, as a third party would.

export type RawField = { field: number; wire: number; value: bigint | Uint8Array };

export function readVarint(data: Uint8Array, at: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = at; i < data.length; i++) {
    const b = data[i]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, i + 1];
    shift += 7n;
  }
  throw new Error('truncated varint');
}

export function walkFields(data: Uint8Array): RawField[] {
  const fields: RawField[] = [];
  let pos = 0;
  while (pos < data.length) {
    const [key, next] = readVarint(data, pos);
    pos = next;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [value, after] = readVarint(data, pos);
      fields.push({ field, wire, value });
      pos = after;
    } else if (wire === 2) {
      const [len, after] = readVarint(data, pos);
      const end = after + Number(len);
      if (end > data.length) throw new Error('truncated field');
      fields.push({ field, wire, value: data.subarray(after, end) });
      pos = end;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return fields;
}

export function bytesField(fields: RawField[], field: number): Uint8Array {
  const found = fields.find((f) => f.field === field && f.wire === 2);
  if (!found) throw new Error(`field ${field} missing`);
  return found.value as Uint8Array;
}

export function stringMap(fields: RawField[], field: number): Record<string, string> {
  const map: Record<string, string> = {};
  for (const f of fields.filter((x) => x.field === field)) {
    const entry = walkFields(f.value as Uint8Array);
    map[new TextDecoder().decode(bytesField(entry, 1))] = new TextDecoder().decode(bytesField(entry, 2));
  }
  return map;
}
