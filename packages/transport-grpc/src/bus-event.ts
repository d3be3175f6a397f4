// SPDX-License-Identifier: Apache-2.0
// EcpsEvent <-> ecps.ext.v1.BusEvent. Absent optional attributes travel as empty strings / an empty map.
import type { EcpsEvent } from '@ecps/core';
import type { BusEvent } from '@ecps/proto/ext/v1';

export function toBusEvent(event: EcpsEvent): BusEvent {
  return {
    id: event.id,
    source: event.source,
    type: event.type,
    time: event.time ?? '',
    datacontenttype: event.datacontenttype ?? '',
    extensions: { ...event.extensions },
    data: event.data,
  };
}

export function fromBusEvent(bus: BusEvent): EcpsEvent {
  const event: { -readonly [K in keyof EcpsEvent]: EcpsEvent[K] } = { id: bus.id, source: bus.source, type: bus.type, data: bus.data };
  if (bus.time) event.time = bus.time;
  if (bus.datacontenttype) event.datacontenttype = bus.datacontenttype;
  if (Object.keys(bus.extensions).length > 0) event.extensions = bus.extensions;
  return event;
}

/** Bytes the attributes add to a frame, roughly (strings as UTF-16 code units, an upper bound for ASCII). */
export function attributeBytes(event: EcpsEvent): number {
  let n = event.id.length + event.source.length + event.type.length + (event.time?.length ?? 0) + (event.datacontenttype?.length ?? 0);
  for (const [k, v] of Object.entries(event.extensions ?? {})) n += k.length + v.length + 8;
  return n;
}
