// SPDX-License-Identifier: Apache-2.0
// A Kubernetes API server for tests: HTTPS (a fresh test CA) with a bearer token on a loopback ephemeral port, speaking the REST and watch protocol
// of the resources in ./resources.ts, so the official client (`@kubernetes/client-node`) and `kubectl` can both be
// pointed at it with a generated kubeconfig. Objects live in memory; a small controller turns Deployments into Pods.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TestController, type ContainerScenario } from './controller';
import { jsonPatch, mergePatch, PatchError } from './patch';
import { generateTestCertificates } from '../tls-certificates';
import { coreVersions, findType, groupList, resourceList, type ResourceType } from './resources';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors';
import { KubeApiError, ObjectStore, type KubeObject, type StoreEvent } from './store';

export interface KubernetesApiServerOptions {
  /** Namespaces that exist from the start (besides `default` and `kube-system`). */
  namespaces?: string[];
  /** Start new pods' containers at once (default true); false, or a predicate false for a pod, leaves it Pending for the test to drive. */
  startPods?: boolean | ((pod: KubeObject) => boolean);
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone (default 10,000). */
  historyLimit?: number;
  /** Largest request body accepted (default 3 MiB, as etcd's default limit); larger gets 413. */
  maxBodyBytes?: number;
}

export interface KubernetesApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** The PEM CA certificate that signed the server's certificate (in the kubeconfig as certificate-authority-data). */
  readonly ca: string;
  /** The bearer token every request must carry (401 otherwise). */
  readonly token: string;
  /** Writes a kubeconfig for this server (context `ecps-testkit`, default namespace `namespace`) and returns its path. */
  writeKubeconfig(dir: string, namespace?: string): Promise<string>;
  /** The kubeconfig text itself (YAML is a superset of the JSON written here). */
  kubeconfig(namespace?: string): string;
  /** Objects of a kind in a namespace, e.g. `objects('pods', 'bots', 'app=x')`. */
  objects(plural: string, namespace: string, labelSelector?: string): KubeObject[];
  /** Drives a pod's container (see {@link ContainerScenario}). */
  setContainer(namespace: string, pod: string, scenario: ContainerScenario, container?: string): void;
  /** Appends to a pod container's log. */
  appendLog(namespace: string, pod: string, text: string, container?: string): void;
  /** Resolves when the controller has reacted to every change so far. */
  settled(): Promise<void>;
  /** Requests served, by `METHOD path` without the query (`WATCH path` for watches): what a client did, e.g. no polling. */
  readonly requests: Map<string, number>;
  /** Closes every watch and log stream, then the listener. */
  close(): Promise<void>;
}

const NAMESPACES = findType('', 'v1', 'namespaces')!;

/** Starts the server on 127.0.0.1 with an ephemeral port. */
export async function startKubernetesApiServer(options: KubernetesApiServerOptions = {}): Promise<KubernetesApiServer> {
  const store = new ObjectStore(options.historyLimit ?? 10_000);
  const controller = new TestController(store, { startPods: options.startPods ?? true });
  const maxBody = options.maxBodyBytes ?? 3 * 1024 * 1024;
  const token = randomBytes(24).toString('hex');
  const requests = new Map<string, number>();
  const openStreams = new Set<ServerResponse>();
  for (const ns of ['default', 'kube-system', ...(options.namespaces ?? [])]) store.create(NAMESPACES, null, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } as KubeObject['metadata'] }, () => true);

  const certificates = generateTestCertificates();
  const server = createServer({ cert: certificates.server.cert, key: certificates.server.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status =
        error instanceof KubeApiError ? error : error instanceof SelectorError ? new KubeApiError(400, 'BadRequest', error.message) : new KubeApiError(500, 'InternalError', String(error));
      if (!res.headersSent) sendJson(res, status.code, status.status());
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const verb = method === 'GET' && ['true', '1'].includes(url.searchParams.get('watch') ?? '') ? 'WATCH' : method;
    requests.set(`${verb} ${path}`, (requests.get(`${verb} ${path}`) ?? 0) + 1);
    if (req.headers.authorization !== `Bearer ${token}`) throw new KubeApiError(401, 'Unauthorized', 'Unauthorized');

    if (method === 'GET') {
      if (path === '/version') return sendJson(res, 200, { major: '1', minor: '30', gitVersion: 'v1.30.0-ecps-testkit', platform: 'linux/amd64' });
      if (path === '/api') return sendJson(res, 200, coreVersions(`127.0.0.1:${port}`));
      if (path === '/apis') return sendJson(res, 200, groupList());
      const discovery = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
      if (discovery) {
        const list = discovery[1] ? resourceList('', 'v1') : resourceList(discovery[2]!, discovery[3]!);
        if (list) return sendJson(res, 200, list);
      }
    }
    const route = parseRoute(path);
    if (!route) throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
    const { type, namespace, name, subresource } = route;
    if (subresource && !type.subresources.includes(subresource)) throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');

    if (!name) {
      if (method === 'GET') return url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' ? watch(req, res, type, namespace, url) : list(res, type, namespace, url);
      if (method === 'POST') return sendJson(res, 201, store.create(type, namespace, (await readBody(req)) as KubeObject, namespaceExists));
      if (method === 'DELETE') {
        const matches = select(type, namespace, url);
        for (const object of matches) removeObject(type, object.metadata.namespace ?? null, object.metadata.name);
        return sendJson(res, 200, { kind: `${type.kind}List`, apiVersion: 'v1', metadata: { resourceVersion: String(store.resourceVersion) }, items: matches });
      }
      throw new KubeApiError(405, 'MethodNotAllowed', `method ${method} is not supported on a collection`);
    }

    if (subresource === 'log') return podLog(req, res, namespace!, name, url);
    if (subresource === 'scale') return scale(req, res, method, type, namespace, name);
    const part = subresource === 'status' ? 'status' : 'main';
    switch (method) {
      case 'GET':
        return sendJson(res, 200, store.mustGet(type, namespace, name));
      case 'PUT':
        return sendJson(res, 200, store.update(type, namespace, name, (await readBody(req)) as KubeObject, part));
      case 'PATCH': {
        const current = store.mustGet(type, namespace, name);
        const patched = applyPatch(current, await readBody(req), req.headers['content-type'] ?? '');
        // a patch that names a resourceVersion is a precondition; one that does not applies to the latest version
        if (!(patched.metadata?.resourceVersion && patched.metadata.resourceVersion !== current.metadata.resourceVersion)) patched.metadata = { ...patched.metadata, resourceVersion: current.metadata.resourceVersion };
        return sendJson(res, 200, store.update(type, namespace, name, patched, part));
      }
      case 'DELETE':
        return sendJson(res, 200, removeObject(type, namespace, name));
      default:
        throw new KubeApiError(405, 'MethodNotAllowed', `method ${method} is not supported`);
    }
  }

  function namespaceExists(ns: string): boolean {
    return store.get(NAMESPACES, null, ns) !== undefined;
  }

  /** Deletes an object; a namespace takes its objects with it. */
  function removeObject(type: ResourceType, namespace: string | null, name: string): KubeObject {
    const removed = store.delete(type, namespace, name);
    if (type === NAMESPACES) {
      for (const t of ['pods', 'secrets', 'configmaps', 'services', 'serviceaccounts', 'persistentvolumeclaims', 'networkpolicies', 'roles', 'rolebindings', 'deployments']) {
        const nsType = typeByPlural(t);
        for (const object of store.list(nsType, name)) store.delete(nsType, name, object.metadata.name);
      }
    }
    return removed;
  }

  function select(type: ResourceType, namespace: string | null, url: URL): KubeObject[] {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector'));
    return store.list(type, namespace).filter((o) => labels(o.metadata.labels) && fields(o));
  }

  function list(res: ServerResponse, type: ResourceType, namespace: string | null, url: URL): void {
    const all = select(type, namespace, url);
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const offset = Number(Buffer.from(url.searchParams.get('continue') ?? '', 'base64url').toString() || 0);
    const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const more = limit > 0 && offset + limit < all.length;
    sendJson(res, 200, {
      kind: `${type.kind}List`,
      apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
      metadata: { resourceVersion: String(store.resourceVersion), ...(more ? { continue: Buffer.from(String(offset + limit)).toString('base64url') } : {}) },
      items,
    });
  }

  function watch(req: IncomingMessage, res: ServerResponse, type: ResourceType, namespace: string | null, url: URL): void {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector'));
    const matches = (o: KubeObject | null) => !!o && labels(o.metadata.labels) && fields(o) && (!type.namespaced || namespace === null || o.metadata.namespace === namespace);
    const since = url.searchParams.get('resourceVersion');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    res.flushHeaders();
    openStreams.add(res);
    const send = (eventType: string, object: unknown) => res.write(JSON.stringify({ type: eventType, object }) + '\n');
    const forward = (event: StoreEvent) => {
      if (event.resource !== type) return;
      const now = matches(event.type === 'DELETED' ? event.previous : event.object);
      const before = event.type === 'MODIFIED' && matches(event.previous);
      if (event.type === 'MODIFIED' && before && !now) send('DELETED', event.object); // left the selection
      else if (event.type === 'MODIFIED' && !before && now) send('ADDED', event.object); // entered it
      else if (now) send(event.type, event.object);
    };
    if (since && since !== '0') {
      const backlog = store.eventsSince(Number(since));
      if (!backlog) {
        send('ERROR', new KubeApiError(410, 'Expired', `too old resource version: ${since} (${store.oldestResumable})`).status());
        openStreams.delete(res);
        res.end();
        return;
      }
      backlog.forEach(forward);
    } else {
      for (const object of store.list(type, namespace)) if (matches(object)) send('ADDED', object);
    }
    const unsubscribe = store.subscribe(forward);
    const timeoutSec = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeoutSec > 0 ? setTimeout(() => res.end(), timeoutSec * 1000) : null;
    const finish = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      openStreams.delete(res);
    };
    res.on('close', finish);
    req.on('close', finish);
  }

  function podLog(req: IncomingMessage, res: ServerResponse, namespace: string, name: string, url: URL): void {
    const pod = store.mustGet(typeByPlural('pods'), namespace, name);
    const container = url.searchParams.get('container') ?? undefined;
    const follow = url.searchParams.get('follow') === 'true';
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    const { text, stop } = controller.readLog(namespace, pod, container, follow ? (chunk) => (chunk === null ? res.end() : res.write(chunk)) : null);
    let out = text;
    const tail = url.searchParams.get('tailLines');
    if (tail !== null) out = out.split(/(?<=\n)/).slice(-Number(tail)).join('');
    const limitBytes = Number(url.searchParams.get('limitBytes') ?? 0);
    if (limitBytes > 0) out = out.slice(0, limitBytes);
    res.write(out);
    if (!follow) return void res.end();
    openStreams.add(res);
    res.on('close', () => {
      stop();
      openStreams.delete(res);
    });
    req.on('close', stop);
  }

  async function scale(req: IncomingMessage, res: ServerResponse, method: string, type: ResourceType, namespace: string | null, name: string): Promise<void> {
    const toScale = (d: KubeObject) => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
      spec: { replicas: (d.spec?.['replicas'] as number | undefined) ?? 1 },
      status: { replicas: (d.status?.['replicas'] as number | undefined) ?? 0, selector: Object.entries(((d.spec?.['selector'] as { matchLabels?: Record<string, string> }) ?? {}).matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') },
    });
    const current = store.mustGet(type, namespace, name);
    if (method === 'GET') return sendJson(res, 200, toScale(current));
    if (method !== 'PUT' && method !== 'PATCH') throw new KubeApiError(405, 'MethodNotAllowed', `method ${method} is not supported on scale`);
    const body = await readBody(req);
    const wanted = (method === 'PUT' ? body : applyPatch(toScale(current) as unknown as KubeObject, body, req.headers['content-type'] ?? '')) as { metadata?: { resourceVersion?: string }; spec?: { replicas?: number } };
    const replicas = wanted.spec?.replicas;
    if (!Number.isInteger(replicas) || replicas! < 0) throw new KubeApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value`);
    const updated = store.update(type, namespace, name, { ...current, metadata: { ...current.metadata, resourceVersion: wanted.metadata?.resourceVersion ?? current.metadata.resourceVersion }, spec: { ...current.spec, replicas } }, 'main');
    sendJson(res, 200, toScale(updated));
  }

  function applyPatch(current: KubeObject, body: unknown, contentType: string): KubeObject {
    try {
      if (contentType.startsWith('application/json-patch+json')) return jsonPatch(current, body) as KubeObject;
      if (contentType.startsWith('application/merge-patch+json') || contentType.startsWith('application/strategic-merge-patch+json')) return mergePatch(structuredClone(current), body) as KubeObject;
    } catch (error) {
      if (error instanceof PatchError) throw new KubeApiError(422, 'Invalid', error.message);
      throw error;
    }
    throw new KubeApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
  }

  async function readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBody) throw new KubeApiError(413, 'RequestEntityTooLarge', `request entity too large: limit is ${maxBody}`);
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new KubeApiError(400, 'BadRequest', 'the request body is not valid JSON');
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const kubeconfig = (namespace = 'default') =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'ecps-testkit', cluster: { server: url, 'certificate-authority-data': Buffer.from(certificates.ca).toString('base64') } }],
      users: [{ name: 'ecps-testkit', user: { token } }],
      contexts: [{ name: 'ecps-testkit', context: { cluster: 'ecps-testkit', user: 'ecps-testkit', namespace } }],
      'current-context': 'ecps-testkit',
    });

  return {
    url,
    token,
    ca: certificates.ca,
    requests,
    kubeconfig,
    async writeKubeconfig(dir, namespace) {
      const file = join(dir, 'kubeconfig');
      await writeFile(file, kubeconfig(namespace), { mode: 0o600 });
      return file;
    },
    objects(plural, namespace, labelSelector) {
      const match = parseLabelSelector(labelSelector ?? null);
      return store.list(typeByPlural(plural), namespace).filter((o) => match(o.metadata.labels)).map((o) => structuredClone(o));
    },
    setContainer: (namespace, pod, scenario, container) => void controller.setContainer(namespace, pod, scenario, container),
    appendLog: (namespace, pod, text, container) => controller.appendLog(namespace, pod, text, container),
    settled: () => controller.settled(),
    async close() {
      controller.close();
      for (const res of openStreams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function sendJson(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

function typeByPlural(plural: string): ResourceType {
  const type = [findType('', 'v1', plural), findType('apps', 'v1', plural), findType('networking.k8s.io', 'v1', plural), findType('rbac.authorization.k8s.io', 'v1', plural)].find(Boolean);
  if (!type) throw new Error(`the Kubernetes test server does not serve ${plural}`);
  return type;
}

/** `/api/v1/namespaces/ns/pods/name/log` → pods in ns, name, subresource log. */
function parseRoute(path: string): { type: ResourceType; namespace: string | null; name: string | null; subresource: string | null } | null {
  const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(path);
  if (!m) return null;
  const [group, version] = m[1] ? ['', 'v1'] : [m[2]!, m[3]!];
  const parts = m[4]!.split('/').map(decodeURIComponent);
  let namespace: string | null = null;
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    namespace = parts[1]!;
    parts.splice(0, 2);
  }
  const type = findType(group, version, parts[0]!);
  if (!type || parts.length > 3) return null;
  if (type.namespaced === false && namespace !== null) return null;
  return { type, namespace, name: parts[1] ?? null, subresource: parts[2] ?? null };
}

