// SPDX-License-Identifier: Apache-2.0
// The embedded bot store: one JSON file, replaced atomically on every mutation, owned by one process at a time.
import { COPYFILE_EXCL } from 'node:constants';
import { copyFile, readdir, readFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Mutex } from 'async-mutex';
import { silentLogger, systemClock, type Clock, type Logger, type RandomSource } from '@ecps/core';
import { atomicWriteFile, isTempFileOf, type DurableFs } from './atomic-write';
import { CodexError, EXIT_CODES, isCodexError } from './errors';
import { CodexEventBus, publishBotChange } from './events';
import { acquireFileLock, type FileLock, type FileLockOptions } from './file-lock';
import { assertBot, assertRegistryFile, isoTime } from './model';
import { migrateReferenceFile } from './reference-file';
import { statsOf, type BotQuery, type BotStore, type RegistryStats } from './store';
import type { IncidentStore } from './incidents';
import type { Bot, RegistryFile } from './schema';

/** What to do with a corrupt registry file once it has been copied aside (spec: `REGISTRY_CORRUPT_POLICY`). */
export type CorruptPolicy = 'fail' | 'restore-backup' | 'start-empty';

export interface JsonFileStoreOptions {
  file: string;
  /** Default `fail`. */
  corruptPolicy?: CorruptPolicy;
  events?: CodexEventBus;
  /** Receives the `registry_corrupt` incident. */
  incidents?: IncidentStore;
  /** The file-system calls of the atomic write (tests inject failures here). */
  fs?: DurableFs;
  /** Lock timings, or `false` for no cross-process lock (read-only tools only). */
  lock?: FileLockOptions | false;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

/**
 * The JSON-file {@link BotStore}. `open` takes the file's lock, loads it and keeps the bots in memory; each mutation
 * runs under one mutex, writes the whole new state with {@link atomicWriteFile} and only then switches memory over.
 *
 * Errors from `open`: `CodexError` `registry_locked` (another process holds the file; exit code 75),
 * `registry_corrupt` (policy `fail`, or `restore-backup` without a usable backup; exit code 78), `storage_unavailable`.
 */
export class JsonFileStore implements BotStore {
  readonly events: CodexEventBus;
  private readonly mutex = new Mutex();
  private readonly clock: Clock;
  private bots = new Map<string, Bot>();
  private closed = false;

  private constructor(
    private readonly options: JsonFileStoreOptions,
    private readonly lock: FileLock | null,
  ) {
    this.events = options.events ?? new CodexEventBus();
    this.clock = options.clock ?? systemClock;
  }

  static async open(options: JsonFileStoreOptions): Promise<JsonFileStore> {
    const lock = options.lock === false ? null : await acquireFileLock(options.file, { ...options.lock, ...(options.clock ? { clock: options.clock } : {}) });
    const store = new JsonFileStore(options, lock);
    try {
      await store.removeLeftoverTempFiles();
      store.bots = toMap(await store.load());
    } catch (error) {
      await lock?.release();
      throw error;
    }
    return store;
  }

  async list(query: BotQuery = {}): Promise<{ bots: Bot[]; total: number }> {
    this.assertOpen();
    const matching = [...this.bots.values()].filter((b) => (query.status === undefined || b.status === query.status) && (query.role === undefined || b.role === query.role));
    const offset = query.offset ?? 0;
    const page = matching.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
    return { bots: structuredClone(page), total: matching.length };
  }

  async get(id: string): Promise<Bot | null> {
    this.assertOpen();
    const bot = this.bots.get(id);
    return bot ? structuredClone(bot) : null;
  }

  async getByName(name: string): Promise<Bot | null> {
    this.assertOpen();
    const bot = this.findByName(name);
    return bot ? structuredClone(bot) : null;
  }

  async create(bot: Bot): Promise<Bot> {
    return this.mutate((next) => {
      assertBot(bot);
      if (next.has(bot.id)) throw new CodexError('conflict', `a bot with id ${bot.id} already exists`);
      if (this.findByName(bot.name, next)) throw new CodexError('conflict', `a bot named ${bot.name} already exists`);
      const created = structuredClone(bot);
      next.set(created.id, created);
      return { result: created, changes: [[null, created]] };
    });
  }

  async update(id: string, fn: (bot: Bot) => Bot, expectedRevision?: number): Promise<Bot> {
    return this.mutate((next) => {
      const current = next.get(id);
      if (!current) throw new CodexError('not_found', `no bot ${id}`);
      if (expectedRevision !== undefined && current.revision !== expectedRevision) {
        throw new CodexError('revision_conflict', `bot ${id} is at revision ${current.revision}, not ${expectedRevision}`, { details: { revision: current.revision } });
      }
      const updated: Bot = { ...fn(structuredClone(current)), id, revision: current.revision + 1, updated_at: isoTime(this.clock.now()) };
      assertBot(updated);
      const clash = this.findByName(updated.name, next);
      if (clash && clash.id !== id) throw new CodexError('conflict', `a bot named ${updated.name} already exists`);
      next.set(id, updated);
      return { result: updated, changes: [[current, updated]] };
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.mutate((next) => {
      const current = next.get(id);
      if (!current) return { result: false, changes: [], skipWrite: true };
      next.delete(id);
      return { result: true, changes: [[current, null]] };
    });
  }

  async stats(): Promise<RegistryStats> {
    this.assertOpen();
    return statsOf([...this.bots.values()].map((b) => b.status));
  }

  async export(): Promise<RegistryFile> {
    this.assertOpen();
    return this.fileOf(this.bots);
  }

  async import(file: RegistryFile, options: { merge: boolean }): Promise<void> {
    assertRegistryFile(file);
    await this.mutate((next) => {
      const changes: [Bot | null, Bot | null][] = [];
      if (!options.merge) {
        const kept = new Set(file.bots.map((b) => b.id));
        for (const bot of [...next.values()]) {
          if (kept.has(bot.id)) continue;
          next.delete(bot.id);
          changes.push([bot, null]);
        }
      }
      for (const incoming of file.bots) {
        const current = next.get(incoming.id) ?? null;
        const bot = structuredClone({ ...incoming, revision: current ? Math.max(current.revision + 1, incoming.revision) : incoming.revision });
        next.set(bot.id, bot);
        changes.push([current, bot]);
      }
      const names = new Set<string>();
      for (const bot of next.values()) {
        if (names.has(bot.name.toLowerCase())) throw new CodexError('conflict', `import would give two bots the name ${bot.name}`);
        names.add(bot.name.toLowerCase());
      }
      return { result: undefined, changes };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.mutex.runExclusive(async () => {
      this.closed = true;
      await this.lock?.release();
    });
  }

  /** Runs one mutation on a copy of the state, writes it durably, then switches memory over and publishes events. */
  private async mutate<T>(apply: (next: Map<string, Bot>) => { result: T; changes: [Bot | null, Bot | null][]; skipWrite?: boolean }): Promise<T> {
    return this.mutex.runExclusive(async () => {
      this.assertOpen();
      this.lock?.assertHeld();
      const next = new Map(this.bots);
      const { result, changes, skipWrite } = apply(next);
      if (!skipWrite) await this.write(this.options.file, next);
      this.bots = next;
      for (const [before, after] of changes) publishBotChange(this.events, before, after);
      return result;
    });
  }

  private async write(file: string, bots: Map<string, Bot>): Promise<void> {
    const text = JSON.stringify(this.fileOf(bots), null, 4) + '\n';
    await atomicWriteFile(file, Buffer.from(text, 'utf8'), { ...(this.options.fs ? { fs: this.options.fs } : {}), ...(this.options.random ? { random: this.options.random } : {}) });
  }

  private fileOf(bots: Map<string, Bot>): RegistryFile {
    return { schema_version: 1, bots: structuredClone([...bots.values()]), metadata: { total_bots: bots.size, last_updated: isoTime(this.clock.now()) } };
  }

  private findByName(name: string, bots: Map<string, Bot> = this.bots): Bot | undefined {
    const lower = name.toLowerCase();
    for (const bot of bots.values()) if (bot.name.toLowerCase() === lower) return bot;
    return undefined;
  }

  private assertOpen(): void {
    if (this.closed) throw new CodexError('closed', 'the registry is closed');
  }

  /** Loads the file; a corrupt one is copied aside, reported, and handled by the policy. Never returns "empty" for it. */
  private async load(): Promise<Bot[]> {
    const { file } = this.options;
    const loaded = await readRegistryFile(file, this.clock.now());
    if (loaded.kind === 'missing') return [];
    if (loaded.kind === 'ok') {
      await this.write(`${file}.bak`, toMap(loaded.bots));
      return loaded.bots;
    }
    const quarantine = `${file}.corrupt-${compactTimestamp(this.clock.now())}`;
    await copyFile(file, quarantine, COPYFILE_EXCL).catch((cause) => {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw new CodexError('storage_unavailable', `cannot copy ${file} aside`, { cause });
    });
    const policy = this.options.corruptPolicy ?? 'fail';
    const message = `registry file ${file} is corrupt (${loaded.reason}); a copy is kept at ${quarantine}; policy ${policy}`;
    (this.options.logger ?? silentLogger).error(message);
    await this.options.incidents?.record({ kind: 'registry_corrupt', message, data: { file, quarantine, reason: loaded.reason, policy } });
    const fail = (why: string) => new CodexError('registry_corrupt', `${why}; a copy is kept at ${quarantine}`, { details: { quarantine, exitCode: EXIT_CODES.registry_corrupt } });
    if (policy === 'fail') throw fail(`registry file ${file} is corrupt (${loaded.reason})`);
    let bots: Bot[] = [];
    if (policy === 'restore-backup') {
      const backup = await readRegistryFile(`${file}.bak`, this.clock.now());
      if (backup.kind !== 'ok') throw fail(`registry file ${file} is corrupt (${loaded.reason}) and its backup ${file}.bak is ${backup.kind === 'missing' ? 'missing' : `corrupt too (${backup.reason})`}`);
      bots = backup.bots;
    }
    await this.write(file, toMap(bots));
    return bots;
  }

  private async removeLeftoverTempFiles(): Promise<void> {
    const dir = dirname(this.options.file);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (cause) {
      throw new CodexError('storage_unavailable', `cannot read directory ${dir}`, { cause });
    }
    for (const name of names) if (isTempFileOf(this.options.file, name)) await unlink(join(dir, name)).catch(() => {});
  }
}

type LoadResult = { kind: 'missing' } | { kind: 'ok'; bots: Bot[] } | { kind: 'corrupt'; reason: string };

async function readRegistryFile(file: string, nowMs: number): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw new CodexError('storage_unavailable', `cannot read ${basename(file)}`, { cause });
  }
  if (text.length === 0) return { kind: 'corrupt', reason: 'zero bytes' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { kind: 'corrupt', reason: `invalid JSON: ${(error as Error).message}` };
  }
  try {
    const current = typeof parsed === 'object' && parsed !== null && 'schema_version' in parsed ? parsed : migrateReferenceFile(parsed, nowMs);
    assertRegistryFile(current);
    return { kind: 'ok', bots: current.bots };
  } catch (error) {
    if (isCodexError(error, 'validation_error')) return { kind: 'corrupt', reason: `bad schema: ${error.message}` };
    throw error;
  }
}

function toMap(bots: Bot[]): Map<string, Bot> {
  return new Map(bots.map((b) => [b.id, b]));
}

/** `YYYYMMDDTHHMMSSZ`. */
function compactTimestamp(ms: number): string {
  return isoTime(ms).replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
