// SPDX-License-Identifier: Apache-2.0
// Versioned schema of the PostgreSQL store. Each migration runs once, in order, recorded in `schema_migrations`.
// Append new versions; never edit one that has shipped.
import type { PoolClient } from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE bots (
  id text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,64}$'),
  name text NOT NULL,
  name_lower text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
  description text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '1.0.0',
  role text NOT NULL DEFAULT 'worker',
  blueprint text NOT NULL,
  deployment_config jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('created','deploying','running','stopping','stopped','failed','error')),
  desired_state text NOT NULL DEFAULT 'stopped',
  process_id integer,
  process_started_at bigint,
  sandbox_id text,
  performance jsonb NOT NULL DEFAULT '{}',
  last_error text,
  error_count integer NOT NULL DEFAULT 0,
  failure_count integer NOT NULL DEFAULT 0,
  next_restart_at timestamptz,
  quarantined_at timestamptz,
  exit_code integer,
  tags jsonb NOT NULL DEFAULT '{}',
  annotations jsonb NOT NULL DEFAULT '{}',
  revision integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  stopped_at timestamptz
);
CREATE INDEX bots_status_idx ON bots(status);
CREATE INDEX bots_role_idx ON bots(role);
CREATE TABLE bot_logs (id bigserial PRIMARY KEY, bot_id text REFERENCES bots(id) ON DELETE CASCADE, level text NOT NULL,
  message text NOT NULL, timestamp timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON bot_logs(bot_id, timestamp);
CREATE TABLE performance_metrics (id bigserial PRIMARY KEY, bot_id text REFERENCES bots(id) ON DELETE CASCADE,
  metric_name text NOT NULL, value double precision NOT NULL, unit text, labels jsonb NOT NULL DEFAULT '{}',
  timestamp timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON performance_metrics(bot_id, timestamp);
CREATE TABLE users (id uuid PRIMARY KEY, username text UNIQUE NOT NULL, email text UNIQUE, hashed_password text NOT NULL,
  roles text[] NOT NULL, is_active boolean NOT NULL DEFAULT true, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE api_keys (id uuid PRIMARY KEY, key_prefix text NOT NULL, key_hash bytea UNIQUE NOT NULL, service_name text NOT NULL,
  roles text[] NOT NULL, is_active boolean NOT NULL DEFAULT true, last_used timestamptz, expires_at timestamptz);
CREATE TABLE refresh_tokens (jti uuid PRIMARY KEY, family uuid NOT NULL, user_id uuid REFERENCES users(id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL, used_at timestamptz, revoked_at timestamptz);
CREATE TABLE revoked_access_tokens (jti uuid PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE TABLE incidents (incident_id text PRIMARY KEY, bot_id text, bot_name text, kind text NOT NULL, message text NOT NULL,
  created_at timestamptz NOT NULL, data jsonb NOT NULL DEFAULT '{}');
CREATE INDEX ON incidents(bot_id, created_at);
CREATE INDEX ON incidents(created_at);
`,
  },
  {
    version: 2,
    name: 'change notifications',
    // Every committed change of a bot or a new incident is announced, with the writer's application_name, so
    // each server can tell its own changes from those of the others.
    sql: `
CREATE FUNCTION codex_notify_bot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('codex_bots', json_build_object('op', TG_OP, 'id', OLD.id, 'origin', current_setting('application_name'))::text);
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM pg_notify('codex_bots', json_build_object('op', TG_OP, 'id', NEW.id, 'revision', NEW.revision, 'to', NEW.status,
      'origin', current_setting('application_name'))::text);
  ELSE
    PERFORM pg_notify('codex_bots', json_build_object('op', TG_OP, 'id', NEW.id, 'revision', NEW.revision, 'from', OLD.status,
      'to', NEW.status, 'origin', current_setting('application_name'))::text);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER bots_notify AFTER INSERT OR UPDATE OR DELETE ON bots FOR EACH ROW EXECUTE FUNCTION codex_notify_bot();
CREATE FUNCTION codex_notify_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('codex_incidents', json_build_object('id', NEW.incident_id, 'origin', current_setting('application_name'))::text);
  RETURN NULL;
END $$;
CREATE TRIGGER incidents_notify AFTER INSERT ON incidents FOR EACH ROW EXECUTE FUNCTION codex_notify_incident();
`,
  },
  {
    version: 3,
    name: 'kubernetes names',
    // Where a kubernetes_pod bot runs: its Deployment and (while running) one of its pods.
    sql: 'ALTER TABLE bots ADD COLUMN k8s_deployment_name text, ADD COLUMN k8s_pod_name text;',
  },
  {
    version: 4,
    name: 'change notifications carry the row',
    // A listener that reads the row when the notification arrives finds it as it is by then: changed again, or gone
    // (a bot created and deleted in quick succession was announced to the other servers as deleted only). So the row
    // as the change left it travels in the notification, unless that would pass pg_notify's 8000-byte limit.
    sql: `
CREATE OR REPLACE FUNCTION codex_notify_bot() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  payload jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN
    payload := jsonb_build_object('op', TG_OP, 'id', OLD.id);
  ELSIF TG_OP = 'INSERT' THEN
    payload := jsonb_build_object('op', TG_OP, 'id', NEW.id, 'revision', NEW.revision, 'to', NEW.status, 'row', to_jsonb(NEW));
  ELSE
    payload := jsonb_build_object('op', TG_OP, 'id', NEW.id, 'revision', NEW.revision, 'from', OLD.status, 'to', NEW.status, 'row', to_jsonb(NEW));
  END IF;
  payload := payload || jsonb_build_object('origin', current_setting('application_name'));
  IF octet_length(payload::text) >= 7900 THEN
    payload := payload - 'row';
  END IF;
  PERFORM pg_notify('codex_bots', payload::text);
  RETURN NULL;
END $$;
`,
  },
];

/** An arbitrary constant for `pg_advisory_lock`, so two servers starting together migrate one after the other. */
const MIGRATION_LOCK = 0x636f6465;

/**
 * Applies every migration not yet recorded, each in its own transaction, under an advisory lock. Returns the versions it
 * applied. Throws the driver's error when a statement fails (that migration is rolled back).
 */
export async function migrate(client: PoolClient): Promise<number[]> {
  const applied: number[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
      applied.push(migration.version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
  return applied;
}
