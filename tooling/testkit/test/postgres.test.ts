// SPDX-License-Identifier: Apache-2.0
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { postgresBinDir, startPostgres } from '../src/postgres';

describe('startPostgres', () => {
  it('runs a fresh cluster on a loopback port as an unprivileged user and removes it when stopped by pid', async () => {
    const pg = await startPostgres();
    try {
      const psql = (db: string, sql: string) =>
        execFileSync(join(postgresBinDir()!, 'psql'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'ecps', '-d', db, '-Atc', sql], { encoding: 'utf8' }).trim();
      expect(psql('postgres', 'SELECT 1')).toBe('1');
      const url = await pg.createDatabase('scratch');
      expect(url).toBe(`postgres://ecps@127.0.0.1:${pg.port}/scratch`);
      expect(psql('scratch', 'SELECT current_database()')).toBe('scratch');
      // initdb and postgres refuse root: the server process runs as someone else when we are root
      const owner = execFileSync('ps', ['-o', 'uid=', '-p', String(pg.pid)], { encoding: 'utf8' }).trim();
      if (process.getuid?.() === 0) expect(owner).not.toBe('0');
    } finally {
      await pg.stop();
    }
    expect(existsSync(pg.dir)).toBe(false);
    expect(() => process.kill(pg.pid, 0)).toThrow();
  });
});
