// SPDX-License-Identifier: Apache-2.0
// MQTT-style topic filters, shared by every transport so that `+` and `#` mean the same thing everywhere.
import { ValidationError } from './errors';

/** Throws `INVALID_ARGUMENT` unless `topic` is a concrete topic (no wildcards, non-empty, no NUL). */
export function assertTopic(topic: string): string {
  if (topic.length === 0 || topic.includes('+') || topic.includes('#') || topic.includes('\0')) {
    throw new ValidationError('INVALID_ARGUMENT', `invalid topic ${JSON.stringify(topic)}`);
  }
  return topic;
}

/**
 * Throws `INVALID_ARGUMENT` unless `filter` is a valid filter: `+` matches exactly one level and must fill it,
 * `#` matches any number of levels (including zero) and must be last.
 */
export function assertTopicFilter(filter: string): string {
  if (filter.length === 0 || filter.includes('\0')) {
    throw new ValidationError('INVALID_ARGUMENT', `invalid topic filter ${JSON.stringify(filter)}`);
  }
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    const bad =
      (level.includes('+') && level !== '+') ||
      (level.includes('#') && (level !== '#' || i !== levels.length - 1));
    if (bad) throw new ValidationError('INVALID_ARGUMENT', `invalid topic filter ${JSON.stringify(filter)}`);
  });
  return filter;
}

/** Whether `topic` matches `filter` under MQTT rules. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
