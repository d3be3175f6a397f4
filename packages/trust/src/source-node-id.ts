// SPDX-License-Identifier: Apache-2.0
// `nodeIdFromSource` remembered for the last source seen: a node sends and receives runs of messages with one source,
// and the lookup (a prefix check, a slice and a pattern test) runs on every one of them.
import { nodeIdFromSource } from '@ecps/core';

/** {@link nodeIdFromSource} with a one-entry memory. */
export class SourceNodeIds {
  private source: string | undefined;
  private id: string | undefined;

  of(source: string): string | undefined {
    if (source !== this.source) {
      this.id = nodeIdFromSource(source);
      this.source = source;
    }
    return this.id;
  }
}
