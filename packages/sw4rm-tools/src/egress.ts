// SPDX-License-Identifier: Apache-2.0
// EGRESS_RESTRICTED: the tool runs in its own network namespace (only loopback), so the one way out is an HTTP
// proxy on its loopback that a small forwarder relays over a Unix socket (path sockets cross network namespaces) to
// this process, which lets a connection through only to an allowed `host:port`. A direct connection has no route;
// a proxied one to anything else is answered 403 and recorded, and the run fails EGRESS_DENIED.
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** Most a request head may take before it is refused (memory stays bounded whatever the tool sends). */
const MAX_HEAD = 8192;

/**
 * Runs inside the namespace (`node -e`, argv: socket path, then the tool's argv): a TCP listener on the
 * namespace's loopback relaying to the Unix socket, then the tool with the proxy in its environment.
 */
export const NAMESPACE_FORWARDER = `
const net = require('net'), cp = require('child_process');
const [sock, ...cmd] = process.argv.slice(1);
const srv = net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u); u.pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
});
srv.listen(0, '127.0.0.1', () => {
  const p = 'http://127.0.0.1:' + srv.address().port;
  const env = { ...process.env, HTTP_PROXY: p, HTTPS_PROXY: p, http_proxy: p, https_proxy: p, SW4RM_EGRESS_PROXY: p };
  const t = cp.spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
  t.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(127); });
  t.on('exit', (code) => process.exit(code === null ? 128 : code));
});
`;

/** The allow-list proxy of one run. */
export class EgressProxy {
  /** `host:port` destinations refused, in order. */
  readonly denied: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  /** Listens on `socketPath` and lets through only `allow` (`host:port`, host case-insensitive). */
  static async start(socketPath: string, allow: readonly string[]): Promise<EgressProxy> {
    const allowed = new Set(allow.map((a) => a.toLowerCase()));
    const server = createServer();
    const proxy = new EgressProxy(server, socketPath);
    server.on('connection', (client: Socket) => proxy.serve(client, allowed));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    return proxy;
  }

  /** Stops listening and cuts every relayed connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private track(s: Socket): Socket {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    return s;
  }

  private serve(client: Socket, allowed: ReadonlySet<string>): void {
    this.track(client);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD) client.end('HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n');
        return;
      }
      client.off('data', onData);
      client.pause(); // pipe() resumes once the upstream is there
      const [method = '', target = ''] = head.subarray(0, head.indexOf('\r\n')).toString('latin1').split(' ');
      const destination = destinationOf(method, target);
      if (!destination || !allowed.has(`${destination.host}:${destination.port}`)) {
        this.denied.push(destination ? `${destination.host}:${destination.port}` : `${method} ${target}`.slice(0, 200));
        client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      const upstream = this.track(connect(destination.port, destination.host));
      upstream.on('connect', () => {
        if (method === 'CONNECT') client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        else upstream.write(head.subarray(0, end + 4)); // a plain HTTP request goes on as it came
        const rest = head.subarray(end + 4);
        if (rest.length) upstream.write(rest);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  }
}

/** `CONNECT host:port` or an absolute `http://host[:port]/…` URI; undefined for anything else. */
function destinationOf(method: string, target: string): { host: string; port: number } | undefined {
  if (method === 'CONNECT') {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(target);
    return m ? { host: m[1]!.toLowerCase(), port: Number(m[2]) } : undefined;
  }
  try {
    const u = new URL(target);
    if (u.protocol !== 'http:') return undefined;
    return { host: u.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port: u.port ? Number(u.port) : 80 };
  } catch {
    return undefined;
  }
}
