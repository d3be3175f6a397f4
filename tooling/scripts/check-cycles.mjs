#!/usr/bin/env node
// Fails when the workspace package graph has a cycle (dependencies, peer and dev dependencies alike).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const graph = new Map();
for (const group of ['packages', 'apps', 'tooling', '.']) {
  const dirs = group === '.' ? ['bench'] : existsSync(group) ? readdirSync(group).map((d) => join(group, d)) : [];
  for (const dir of dirs) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    const deps = { ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.devDependencies, ...pkg.optionalDependencies };
    graph.set(pkg.name, Object.keys(deps).filter((d) => d.startsWith('@ecps/')));
  }
}
const state = new Map();
const cycles = [];
function visit(name, path) {
  if (state.get(name) === 'done') return;
  if (state.get(name) === 'active') {
    cycles.push([...path.slice(path.indexOf(name)), name].join(' -> '));
    return;
  }
  state.set(name, 'active');
  for (const dep of graph.get(name) ?? []) visit(dep, [...path, name]);
  state.set(name, 'done');
}
for (const name of graph.keys()) visit(name, []);
if (cycles.length) {
  console.error(`dependency cycles:\n  ${cycles.join('\n  ')}`);
  process.exit(1);
}
console.log(`no cycles among ${graph.size} workspace packages`);
