// SPDX-License-Identifier: Apache-2.0
// Same-origin and allow-listed origins, for CORS, the refresh cookie and WebSocket upgrades.
import type { FastifyRequest } from 'fastify';
import type { ApiConfig } from './config';

/** True when the request's `Origin` is this server itself (scheme and `Host` header). */
export function isSameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  return typeof origin === 'string' && origin === `${request.protocol}://${request.headers.host ?? ''}`;
}

/** True for no `Origin` (not a browser), this server, or an origin listed in `CORS_ORIGINS`. */
export function originAllowed(request: FastifyRequest, config: ApiConfig): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  return isSameOrigin(request) || config.corsOrigins.includes(origin);
}
