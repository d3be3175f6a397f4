// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import { RecencyList, type RecencyNode } from './recency-list';

describe('RecencyList', () => {
  it('keeps the order of a reference model through random adds, touches, batch touches and removes', () => {
    const list = new RecencyList<number>();
    const nodes = new Map<number, RecencyNode<number>>();
    const model: number[] = [];
    const random = seededRandom(5);
    for (let step = 0, next = 0; step < 5000; step++) {
      const op = random.int(4);
      if (op === 3 && model.length > 0) {
        // a batch, as one search's hits: possibly repeated values, refreshed in the batch's order
        const batch = Array.from({ length: 1 + random.int(4) }, () => model[random.int(model.length)]!);
        list.touchAll(batch, (value) => nodes.get(value)!);
        for (const value of batch) model.push(...model.splice(model.indexOf(value), 1));
      } else if (op === 0 || model.length === 0) {
        nodes.set(next, list.add(next));
        model.push(next++);
      } else {
        const value = model[random.int(model.length)]!;
        model.splice(model.indexOf(value), 1);
        if (op === 1) {
          list.touch(nodes.get(value)!);
          model.push(value);
        } else {
          list.remove(nodes.get(value)!);
          list.remove(nodes.get(value)!); // twice: a no-op
          list.touch(nodes.get(value)!); // a removed node stays out
          nodes.delete(value);
        }
      }
      expect(list.oldest).toBe(model[0]);
    }
    expect([...list.values()]).toEqual(model);
  });
});
