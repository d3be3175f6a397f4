// SPDX-License-Identifier: Apache-2.0
// The node's action log (spec §5.2): every sent and received EAP appended as its exact protobuf bytes to
// `eap_{unix_seconds}.eaplog` in the log directory (default: cwd), header session_id = UUID v4, robot_id from the
// node, version 2.1, native framing unless compat is asked for. The file is opened on the first action.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cryptoRandom, isEcpsError, systemClock, uuidv4 } from '@ecps/core';
import type { Clock, Logger, RandomSource } from '@ecps/core';
import { EaplogWriter } from '@ecps/eaplog';
import type { EaplogWriterOptions, FsyncPolicy } from '@ecps/eaplog';

export interface ActionLogOptions {
  /** Directory of the default file name (default: cwd). */
  dir?: string;
  /** Full path, instead of `dir` + `eap_{unix_seconds}.eaplog`; an existing file there is appended to. */
  path?: string;
  /** `compat` writes the reference layout (§6.5). Default `native`. */
  mode?: 'native' | 'compat';
  robotId?: string;
  sessionId?: string;
  fsync?: FsyncPolicy;
  /** Extra writer options (encryption, signing, compression, metadata). */
  writer?: Omit<EaplogWriterOptions, 'mode' | 'robotId' | 'sessionId' | 'fsync' | 'clock' | 'logger'>;
}

/** Something actions can be appended to: our lazily opened file, or a writer the caller owns. */
export interface ActionLog {
  append(bytes: Uint8Array): Promise<void>;
  /** Path of the file, once opened. */
  readonly path: string | undefined;
  close(): Promise<void>;
}

/** The default file name for a log started at `nowMs`. */
export function defaultLogFileName(nowMs: number): string {
  return `eap_${Math.floor(nowMs / 1000)}.eaplog`;
}

/** An action log that opens its file on the first append. */
export function openActionLog(
  options: ActionLogOptions,
  context: { nodeId: string; clock?: Clock; random?: RandomSource; logger?: Logger },
): ActionLog {
  const clock = context.clock ?? systemClock;
  let writer: Promise<EaplogWriter> | undefined;
  let path: string | undefined;
  const writerOptions = (): EaplogWriterOptions => ({
      ...(options.writer ?? {}),
      mode: options.mode ?? 'native',
      version: options.writer?.version ?? '2.1',
      robotId: options.robotId ?? context.nodeId,
      sessionId: options.sessionId ?? uuidv4(context.random ?? cryptoRandom),
      clock,
      ...(options.fsync ? { fsync: options.fsync } : {}),
      ...(context.logger ? { logger: context.logger } : {}),
  });
  const open = async (): Promise<EaplogWriter> => {
    if (options.path !== undefined) {
      path = options.path;
      return EaplogWriter.open(path, writerOptions());
    }
    // A fresh file per log; another node that started in the same second gets a numbered sibling, never a shared file.
    const dir = options.dir ?? process.cwd();
    await mkdir(dir, { recursive: true });
    const base = defaultLogFileName(clock.now()).replace(/\.eaplog$/, '');
    for (let n = 0; ; n++) {
      const candidate = join(dir, n === 0 ? `${base}.eaplog` : `${base}-${n}.eaplog`);
      try {
        const writer = await EaplogWriter.create(candidate, writerOptions());
        path = candidate;
        return writer;
      } catch (error) {
        if (!isEcpsError(error, 'ALREADY_EXISTS') || n >= 1000) throw error;
      }
    }
  };
  return {
    get path() {
      return path;
    },
    async append(bytes) {
      writer ??= open();
      await (await writer).append(bytes);
    },
    async close() {
      if (writer) await (await writer).close();
    },
  };
}

/** Wraps a writer the caller opened (and closes). */
export function writerActionLog(writer: EaplogWriter): ActionLog {
  return { path: writer.path, append: (bytes) => writer.append(bytes), close: () => Promise.resolve() };
}
