// SPDX-License-Identifier: Apache-2.0
// The dashboard: a static page and its two assets, read once at start-up, served with a strict CSP.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context';

export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export function dashboardRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const assets = [
    ['/api/v1/dashboard', 'index.html', 'text/html; charset=utf-8'],
    ['/api/v1/dashboard/app.js', 'app.js', 'text/javascript; charset=utf-8'],
    ['/api/v1/dashboard/app.css', 'app.css', 'text/css; charset=utf-8'],
  ] as const;
  for (const [path, file, type] of assets) {
    const body = readFileSync(join(ctx.dashboardDir, file));
    app.get(path, { config: { access: 'public' }, schema: { tags: ['dashboard'], hide: true } }, async (_request, reply) =>
      reply.header('content-security-policy', DASHBOARD_CSP).header('cache-control', 'no-cache').type(type).send(body),
    );
  }
}
