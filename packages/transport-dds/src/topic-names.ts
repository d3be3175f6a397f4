// SPDX-License-Identifier: Apache-2.0
// ECPS topics on DDS (spec §9): DDS topic name = `ecps/` + the ECPS topic (configured prefix included) with every
// character outside [A-Za-z0-9_/] replaced by `_`. The mapping is not one-to-one, so a transport refuses to use two
// ECPS topics that land on one DDS name. Wildcard filters are matched against DDS names level by level.
import { ValidationError, topicMatches } from '@ecps/core';

export const DDS_TOPIC_ROOT = 'ecps/';
/** Cyclone's limit is 256 bytes; a name this long is a mistake anyway. */
const MAX_DDS_TOPIC_NAME = 200;

const sanitize = (s: string) => s.replace(/[^A-Za-z0-9_/]/g, '_');

/** The DDS topic name of a concrete ECPS topic (prefix already applied). */
export function ddsTopicName(topic: string): string {
  const name = DDS_TOPIC_ROOT + sanitize(topic);
  if (name.length > MAX_DDS_TOPIC_NAME) {
    throw new ValidationError('INVALID_ARGUMENT', `topic ${JSON.stringify(topic)} is too long for DDS (${name.length} > ${MAX_DDS_TOPIC_NAME})`);
  }
  return name;
}

/** A filter in DDS-name space: `+` and `#` stay wildcards, other levels are mapped like topic names. */
export function ddsFilter(filter: string): string {
  return filter
    .split('/')
    .map((level) => (level === '+' || level === '#' ? level : sanitize(level)))
    .join('/');
}

/** Whether the DDS topic `ddsName` is one an ECPS `filter` (already mapped with {@link ddsFilter}) selects. */
export function ddsNameMatches(mappedFilter: string, ddsName: string): boolean {
  return ddsName.startsWith(DDS_TOPIC_ROOT) && topicMatches(mappedFilter, ddsName.slice(DDS_TOPIC_ROOT.length));
}

/**
 * Remembers which ECPS topic each DDS name stands for in one transport, so a collision is refused and a wildcard
 * delivery can be reported under the topic the publisher used (when it is one this transport has seen).
 */
export class TopicRegistry {
  private readonly byDdsName = new Map<string, string>();

  constructor(private readonly maxEntries = 100_000) {}

  /**
   * The DDS name of `topic`, recorded.
   * @throws ValidationError `INVALID_ARGUMENT` when another ECPS topic already maps to the same DDS name.
   */
  resolve(topic: string): string {
    const name = ddsTopicName(topic);
    const known = this.byDdsName.get(name);
    if (known === undefined) {
      if (this.byDdsName.size >= this.maxEntries) this.byDdsName.delete(this.byDdsName.keys().next().value as string);
      this.byDdsName.set(name, topic);
    } else if (known !== topic) {
      throw new ValidationError(
        'INVALID_ARGUMENT',
        `topics ${JSON.stringify(known)} and ${JSON.stringify(topic)} both map to the DDS topic ${name}; rename one`,
        { details: { topics: [known, topic], ddsTopic: name } },
      );
    }
    return name;
  }

  /** The ECPS topic behind a DDS name: the recorded one, else the name without `ecps/`. */
  ecpsTopic(ddsName: string): string {
    return this.byDdsName.get(ddsName) ?? ddsName.slice(DDS_TOPIC_ROOT.length);
  }
}
