// SPDX-License-Identifier: Apache-2.0
// The PATCH bodies Kubernetes clients send: JSON merge patch (RFC 7386), strategic merge patch (applied here as a
// merge patch: lists are replaced, not merged by key), and JSON patch (RFC 6902).

export class PatchError extends Error {}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** RFC 7386: objects merge recursively, `null` deletes, anything else (arrays included) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (key === '$patch' || key.startsWith('$setElementOrder') || key.startsWith('$retainKeys') || key.startsWith('$deleteFromPrimitiveList')) continue;
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** RFC 6902 operations add, remove, replace, test, copy, move on a deep copy of `target`. */
export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch must be an array of operations');
  let doc = structuredClone(target) as Json;
  for (const op of operations as { op: string; path: string; from?: string; value?: Json }[]) {
    const path = pointer(op.path);
    switch (op.op) {
      case 'add':
        doc = put(doc, path, op.value as Json, true);
        break;
      case 'replace':
        get(doc, path);
        doc = put(doc, path, op.value as Json, false);
        break;
      case 'remove':
        doc = remove(doc, path);
        break;
      case 'test':
        if (JSON.stringify(get(doc, path)) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${op.path}`);
        break;
      case 'copy':
        doc = put(doc, path, structuredClone(get(doc, pointer(op.from ?? ''))), true);
        break;
      case 'move': {
        const from = pointer(op.from ?? '');
        const value = get(doc, from);
        doc = put(remove(doc, from), path, value, true);
        break;
      }
      default:
        throw new PatchError(`unknown JSON patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function get(doc: Json, path: string[]): Json {
  let node: Json = doc;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !(key in node)) throw new PatchError(`no value at /${path.join('/')}`);
    node = (node as Record<string, Json>)[key]!;
  }
  return node;
}

function parentOf(doc: Json, path: string[]): Record<string, Json> | Json[] {
  const parent = get(doc, path.slice(0, -1));
  if (parent === null || typeof parent !== 'object') throw new PatchError(`no container at /${path.slice(0, -1).join('/')}`);
  return parent;
}

function put(doc: Json, path: string[], value: Json, insert: boolean): Json {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path);
  const key = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new PatchError(`bad array index ${key}`);
    if (insert) parent.splice(index, 0, value);
    else parent[index] = value;
  } else parent[key] = value;
  return doc;
}

function remove(doc: Json, path: string[]): Json {
  get(doc, path);
  const parent = parentOf(doc, path);
  const key = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return doc;
}
