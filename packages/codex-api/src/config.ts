// SPDX-License-Identifier: Apache-2.0
// Settings of the management API, read from the environment and refused at start-up when they are unsafe.
import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { ApiError } from './errors';

export interface ApiConfig {
  /** `development` serves `/docs` without credentials and may generate throwaway secrets. */
  env: 'production' | 'development';
  host: string;
  port: number;
  /** HS256 key of every JWT (`API_SECRET_KEY`, at least 32 bytes). */
  secretKey: string;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  /** A bootstrap service key with role admin (`ADMIN_API_KEY`). */
  adminApiKey: string | null;
  /** Exact origins allowed cross-origin (with credentials); empty = same origin only. */
  corsOrigins: string[];
  rateLimit: { max: number; windowSec: number };
  /** Failed logins per (IP, username) within `windowSec` before further attempts get 429. */
  loginLockout: { failures: number; windowSec: number };
  /** Bcrypt cost of new password hashes (12). */
  bcryptCost: number;
  /** `codex32_auth.json` (users, keys, refresh tokens) and `codex32_patch_proposals.json` (JSON backend). */
  authFile: string;
  patchesFile: string;
  /** `CODEX32_BOOTSTRAP_ADMIN=<user>:<bcrypt hash>`. */
  bootstrapAdmin: { username: string; hash: string } | null;
  ws: { maxConnectionsPerPrincipal: number; commandsPerWindow: number; commandWindowSec: number; heartbeatSec: number; maxBufferedBytes: number };
  /** `STT_PROVIDER`: `none`, `mock` or `pocketsphinx` (`google_cloud` is an alias of `google`). */
  sttProvider: string;
  /** Whether the refresh cookie gets `Secure` (default true; browsers accept it on http://127.0.0.1 and localhost). */
  secureCookies: boolean;
}

const PLACEHOLDER = 'CHANGE_THIS_IN_PRODUCTION';
const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9a-fA-F:]+\](:\d{1,5})?$/;

/**
 * Reads the API settings from the environment (spec names: `API_SECRET_KEY`, `CORS_ORIGINS`, `RATE_LIMIT_REQUESTS`, …);
 * relative file paths are taken against `baseDir`. Throws `ApiError` `config_invalid` for a placeholder or short secret
 * (unless `CODEX32_ENV=development` and `CODEX32_ALLOW_DEFAULT_SECRETS=true`, which generate random per-process
 * secrets and call `warn`), for `*` in `CORS_ORIGINS` (credentials are always allowed), for an origin that is not
 * exactly `scheme://host[:port]`, and for malformed numbers.
 */
export function apiConfigFromEnv(env: Readonly<Record<string, string | undefined>>, baseDir: string, warn: (message: string) => void = () => {}): ApiConfig {
  const mode = env['CODEX32_ENV'] === 'development' ? 'development' : 'production';
  const number = (name: string, fallback: number, min = 1): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new ApiError('config_invalid', `${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return value;
  };
  const path = (name: string, fallback: string) => {
    const value = env[name] || fallback;
    return isAbsolute(value) ? value : resolve(baseDir, value);
  };

  const allowGenerated = mode === 'development' && env['CODEX32_ALLOW_DEFAULT_SECRETS'] === 'true';
  let secretKey = env['API_SECRET_KEY'] ?? '';
  let adminApiKey = env['ADMIN_API_KEY'] || null;
  const weak = secretKey === PLACEHOLDER || Buffer.byteLength(secretKey) < 32;
  if (weak || adminApiKey === PLACEHOLDER) {
    if (!allowGenerated) {
      throw new ApiError(
        'config_invalid',
        weak
          ? 'API_SECRET_KEY must be set to a secret of at least 32 bytes (never the placeholder)'
          : 'ADMIN_API_KEY is the placeholder CHANGE_THIS_IN_PRODUCTION: set a real key or unset it',
      );
    }
    if (weak) secretKey = randomBytes(32).toString('base64url');
    if (adminApiKey === PLACEHOLDER) adminApiKey = null;
    warn('development mode: generated a random per-process API secret; tokens will not survive a restart');
  }

  const corsOrigins = (env['CORS_ORIGINS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (corsOrigins.includes('*')) throw new ApiError('config_invalid', 'CORS_ORIGINS cannot be * : the API allows credentials, so origins must be listed exactly');
  for (const origin of corsOrigins) {
    if (!ORIGIN.test(origin)) throw new ApiError('config_invalid', `CORS_ORIGINS entry ${JSON.stringify(origin)} is not an exact origin (scheme://host[:port])`);
  }

  let bootstrapAdmin: ApiConfig['bootstrapAdmin'] = null;
  if (env['CODEX32_BOOTSTRAP_ADMIN']) {
    const raw = env['CODEX32_BOOTSTRAP_ADMIN'];
    const colon = raw.indexOf(':');
    const username = raw.slice(0, colon);
    const hash = raw.slice(colon + 1);
    if (colon < 1 || !/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new ApiError('config_invalid', 'CODEX32_BOOTSTRAP_ADMIN must be <username>:<bcrypt hash>');
    }
    bootstrapAdmin = { username, hash };
  }

  return {
    env: mode,
    host: env['HOST'] || '127.0.0.1',
    port: number('PORT', 8000, 0),
    secretKey,
    accessTokenTtlSec: number('API_ACCESS_TOKEN_EXPIRE_MINUTES', 30) * 60,
    refreshTokenTtlSec: number('API_REFRESH_TOKEN_EXPIRE_DAYS', 7) * 86_400,
    adminApiKey,
    corsOrigins,
    rateLimit: { max: number('RATE_LIMIT_REQUESTS', 100), windowSec: number('RATE_LIMIT_PERIOD_SECONDS', 60) },
    loginLockout: { failures: 5, windowSec: 15 * 60 },
    bcryptCost: number('BCRYPT_COST', 12, 4),
    authFile: path('AUTH_FILE', 'codex32_auth.json'),
    patchesFile: path('PATCHES_FILE', 'codex32_patch_proposals.json'),
    bootstrapAdmin,
    ws: { maxConnectionsPerPrincipal: 5, commandsPerWindow: 20, commandWindowSec: 10, heartbeatSec: 5, maxBufferedBytes: 1024 * 1024 },
    sttProvider: env['STT_PROVIDER'] === 'google_cloud' ? 'google' : (env['STT_PROVIDER'] || 'none'),
    secureCookies: env['CODEX32_INSECURE_COOKIES'] !== 'true',
  };
}
