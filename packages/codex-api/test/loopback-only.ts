// SPDX-License-Identifier: Apache-2.0
// Jest setup (checklist 25): no test of this package may open a non-loopback socket. Every TCP connect from the test
// process (fetch, ws, pg, playwright's driver) goes through net.Socket#connect; one to any other host throws.
// Processes the tests start (Chromium, bots) are outside this guard.
import net from 'node:net';

const GUARDED = Symbol.for('ecps.codex-api.loopback-only');

/** Whether `host` is this machine: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host a `connect` call aims at, or null for a Unix socket or pipe. */
function targetHost(args: unknown[]): string | null {
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]; // net normalizes to [[options, cb]]
  if (typeof first === 'object' && first !== null) {
    const options = first as { path?: unknown; host?: unknown };
    if (typeof options.path === 'string') return null;
    return typeof options.host === 'string' ? options.host : 'localhost';
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return null; // connect(path)
  return typeof args[1] === 'string' ? args[1] : 'localhost';
}

const proto = net.Socket.prototype as net.Socket & { [GUARDED]?: true };
if (!proto[GUARDED]) {
  const connect = proto.connect;
  proto.connect = function (this: net.Socket, ...args: unknown[]) {
    const host = targetHost(args);
    if (host !== null && !isLoopbackHost(host)) throw new Error(`a test tried to open a non-loopback socket to ${host}`);
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof proto.connect;
  proto[GUARDED] = true;
}
