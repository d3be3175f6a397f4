// SPDX-License-Identifier: Apache-2.0
// The object store behind the Kubernetes test server: one resourceVersion counter for everything, optimistic
// concurrency (409 Conflict on a stale resourceVersion), a bounded event history that watches resume from, and
// subscribers that see every change after it is committed.
import { randomUUID } from 'node:crypto';
import { apiVersionOf, type ResourceType } from './resources';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  resourceVersion: number;
  resource: ResourceType;
  object: KubeObject;
  /** The object before a MODIFIED event (to tell selector entries and exits apart). */
  previous: KubeObject | null;
}

/** A failure the server answers as a `Status` object with this HTTP code and reason. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  status(): Record<string, unknown> {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, details: this.details, code: this.code };
  }
}

/** `deployments.apps "x"` as Kubernetes words it in messages. */
export function qualifiedName(type: ResourceType, name: string): string {
  return `${type.plural}${type.group ? `.${type.group}` : ''} "${name}"`;
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export class ObjectStore {
  private revision = 0;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoreEvent[] = [];
  private readonly subscribers = new Set<(event: StoreEvent) => void>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch can still resume after. */
  get oldestResumable(): number {
    return this.history.length > 0 ? this.history[0]!.resourceVersion - 1 : this.revision;
  }

  /** Events after `resourceVersion`, oldest first; null when that version has been compacted away (410 Gone). */
  eventsSince(resourceVersion: number): StoreEvent[] | null {
    if (resourceVersion < this.oldestResumable) return null;
    return this.history.filter((e) => e.resourceVersion > resourceVersion);
  }

  subscribe(fn: (event: StoreEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  list(type: ResourceType, namespace: string | null): KubeObject[] {
    const prefix = `${type.plural}/${type.namespaced && namespace ? namespace : ''}`;
    const out: KubeObject[] = [];
    for (const [key, object] of this.objects) if (key.startsWith(type.plural + '/') && (namespace === null || !type.namespaced || key.startsWith(prefix + '/'))) out.push(object);
    return out.sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
  }

  get(type: ResourceType, namespace: string | null, name: string): KubeObject | undefined {
    return this.objects.get(key(type, namespace, name));
  }

  mustGet(type: ResourceType, namespace: string | null, name: string): KubeObject {
    const object = this.get(type, namespace, name);
    if (!object) throw new KubeApiError(404, 'NotFound', `${qualifiedName(type, name)} not found`, { name, group: type.group, kind: type.plural });
    return object;
  }

  /** Creates `body` (409 AlreadyExists, 422 Invalid for a bad name, 404 for a missing namespace). */
  create(type: ResourceType, namespace: string | null, body: KubeObject, namespaceExists: (ns: string) => boolean): KubeObject {
    const meta = { ...(body.metadata ?? {}) } as ObjectMeta;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    const name = meta.name;
    if (!name || !NAME.test(name)) throw new KubeApiError(422, 'Invalid', `${type.kind} "${name ?? ''}" is invalid: metadata.name: Invalid value`, { name, kind: type.kind });
    if (type.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw new KubeApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      namespace = namespace ?? meta.namespace ?? 'default';
      if (!namespaceExists(namespace)) throw new KubeApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
    }
    const k = key(type, namespace, name);
    if (this.objects.has(k)) throw new KubeApiError(409, 'AlreadyExists', `${qualifiedName(type, name)} already exists`, { name, group: type.group, kind: type.plural });
    const object: KubeObject = {
      ...structuredClone(body),
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: {
        ...meta,
        name,
        ...(type.namespaced ? { namespace: namespace! } : {}),
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: '',
        ...(type.kind === 'Deployment' ? { generation: 1 } : {}),
      },
    };
    delete object.metadata.deletionTimestamp;
    return this.commit('ADDED', type, k, object, null);
  }

  /**
   * Replaces an object. A stale `metadata.resourceVersion` in `body` is a 409 Conflict; an empty one means "last write
   * wins" (as `kubectl replace --force` and controllers may do). `part` says what may change: the spec and metadata
   * (status kept), or only the status (the `/status` subresource).
   */
  update(type: ResourceType, namespace: string | null, name: string, body: KubeObject, part: 'main' | 'status'): KubeObject {
    const current = this.mustGet(type, namespace, name);
    const expected = body.metadata?.resourceVersion;
    if (expected && expected !== current.metadata.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedName(type, name)}: the object has been modified; please apply your changes to the latest version and try again`, {
        name,
        group: type.group,
        kind: type.plural,
      });
    }
    if (body.metadata?.name && body.metadata.name !== name) throw new KubeApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    let next: KubeObject;
    if (part === 'status') {
      next = { ...structuredClone(current), status: structuredClone(body.status ?? {}) };
    } else {
      const { status: _ignored, ...rest } = structuredClone(body);
      next = {
        ...rest,
        apiVersion: current.apiVersion,
        kind: current.kind,
        metadata: { ...(rest.metadata ?? {}), name, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp, resourceVersion: current.metadata.resourceVersion },
        ...(current.status ? { status: structuredClone(current.status) } : {}),
      } as KubeObject;
      if (current.metadata.namespace) next.metadata.namespace = current.metadata.namespace;
      if (current.metadata.deletionTimestamp) next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      if (current.metadata.generation !== undefined) {
        const specChanged = JSON.stringify(next.spec ?? {}) !== JSON.stringify(current.spec ?? {});
        next.metadata.generation = current.metadata.generation + (specChanged ? 1 : 0);
      }
    }
    if (JSON.stringify(next) === JSON.stringify(current)) return current; // no-op writes do not bump the version
    return this.commit('MODIFIED', type, key(type, namespace, name), next, current);
  }

  /** Removes an object and returns it as it was last seen (with a deletionTimestamp). */
  delete(type: ResourceType, namespace: string | null, name: string): KubeObject {
    const current = this.mustGet(type, namespace, name);
    const k = key(type, namespace, name);
    this.objects.delete(k);
    const gone = structuredClone(current);
    gone.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return this.commit('DELETED', type, k, gone, current);
  }

  private commit(kind: WatchEventType, type: ResourceType, k: string, object: KubeObject, previous: KubeObject | null): KubeObject {
    this.revision += 1;
    object.metadata.resourceVersion = String(this.revision);
    if (kind !== 'DELETED') this.objects.set(k, object);
    const event: StoreEvent = { type: kind, resourceVersion: this.revision, resource: type, object, previous };
    this.history.push(event);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    for (const subscriber of [...this.subscribers]) subscriber(event);
    return object;
  }
}

function key(type: ResourceType, namespace: string | null, name: string): string {
  return `${type.plural}/${type.namespaced ? (namespace ?? 'default') : ''}/${name}`;
}
