// SPDX-License-Identifier: Apache-2.0
// Workflow DAG validation (spec §3.13), O(V+E) with Kahn's algorithm.
import type { WorkflowDefinition } from './gen/workflow';

/** `undefined` when valid, else the `error` string CreateWorkflow reports. */
export function validateWorkflowDag(definition: Pick<WorkflowDefinition, 'nodes'>): string | undefined {
  const nodes = definition.nodes;
  const ids = [...nodes.keys()];
  if (ids.length === 0) return 'workflow_invalid: no nodes';
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  const dependents = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of ids) {
    const node = nodes.get(id)!;
    if (node.nodeId && node.nodeId !== id) return `workflow_invalid: map key ${id} != node_id ${node.nodeId}`;
    for (const dep of node.dependencies) {
      if (dep === id) return `workflow_self_dependency: ${id}`;
      if (!indegree.has(dep)) return `workflow_missing_dependency: ${id} -> ${dep}`;
      indegree.set(id, indegree.get(id)! + 1);
      dependents.get(dep)!.push(id);
    }
  }
  const queue = ids.filter((id) => indegree.get(id) === 0);
  if (queue.length === 0) return `workflow_no_root: every node has a dependency (${ids.sort().join(',')})`;
  let seen = 0;
  while (queue.length) {
    const id = queue.shift()!;
    seen++;
    for (const d of dependents.get(id)!) {
      indegree.set(d, indegree.get(d)! - 1);
      if (indegree.get(d) === 0) queue.push(d);
    }
  }
  if (seen === ids.length) return undefined;
  const cyclic = ids.filter((id) => indegree.get(id)! > 0).sort();
  return `workflow_cycle_detected: ${cyclic.join(',')}`;
}
