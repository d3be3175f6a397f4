// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { WorkflowNode } from '../src/gen/workflow';
import { validateWorkflowDag } from '../src/index';

const node = (nodeId: string, ...dependencies: string[]) => WorkflowNode.fromPartial({ nodeId, dependencies });
const dag = (...ns: WorkflowNode[]) => ({ nodes: new Map(ns.map((n) => [n.nodeId, n])) });

describe('workflow DAG validation (spec §3.13, checklist 14)', () => {
  it('accepts a DAG and rejects cycles, missing and self dependencies, and graphs without a root', () => {
    expect(validateWorkflowDag(dag(node('a'), node('b', 'a'), node('c', 'a', 'b')))).toBeUndefined();
    expect(validateWorkflowDag(dag(node('a'), node('b', 'a', 'c'), node('c', 'b')))).toBe('workflow_cycle_detected: b,c');
    expect(validateWorkflowDag(dag(node('a'), node('b', 'zzz')))).toBe('workflow_missing_dependency: b -> zzz');
    expect(validateWorkflowDag(dag(node('a', 'a')))).toBe('workflow_self_dependency: a');
    expect(validateWorkflowDag(dag(node('a', 'b'), node('b', 'a')))).toMatch(/^workflow_no_root/);
    expect(validateWorkflowDag({ nodes: new Map() })).toMatch(/no nodes/);
  });
});
