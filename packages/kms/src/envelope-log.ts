// SPDX-License-Identifier: Apache-2.0
// The action log under envelope encryption: records are AES-256-GCM under a KMS data key held locally, whose wrapped
// form is in each file's header (`data_key`); when the data key rotates, the log moves on to a new file.
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { isEcpsError } from '@ecps/core';
import { EaplogWriter, LocalKeyFileProvider } from '@ecps/eaplog';
import type { EaplogWriterOptions, EncryptionOptions } from '@ecps/eaplog';
import type { DataKey, DataKeyCache } from './data-key-cache';
import { KmsError } from './errors';

/** The `encryption` option of an eaplog writer for one data key: local AES-GCM, the wrapped key in the header. */
export function envelopeEncryption(dataKey: DataKey): EncryptionOptions {
  return {
    provider: new LocalKeyFileProvider({ [dataKey.id]: { algorithm: 'aes-256-gcm', key: new Uint8Array(dataKey.key) } }),
    keyId: dataKey.id,
    dataKey: dataKey.wrapped,
  };
}

export interface EnvelopeActionLogOptions {
  /** Directory of the files (created when missing). */
  dir: string;
  /** File names are `<prefix>-<n>.eaplog`, n from 1 counting up past existing files (default `eap`). */
  prefix?: string;
  /** Where data keys come from; one use per record. */
  dataKeys: DataKeyCache;
  /** Writer options for every file (not `encryption`, which this class sets). */
  writer?: Omit<EaplogWriterOptions, 'encryption'>;
}

interface Segment {
  readonly keyId: string;
  readonly writer: EaplogWriter;
}

/**
 * An action log (the `ActionLog` shape of `@ecps/eap`: `append`, `path`, `close`) whose records are encrypted under
 * KMS data keys. Each file holds records under one data key and names it in its header; when
 * {@link DataKeyCache.take} hands out a new key (age or use count reached), the current file is closed (sealed with
 * a final checkpoint when signing) and the next file starts. Appends keep their order across files and, within one
 * file, share the writer's group commit: an append waits for the KMS only when the cache does (see
 * {@link DataKeyCache}).
 *
 * A reader opens each file with `readEaplog(path, { keyProvider: kms })`: the KMS provider unwraps the data key.
 * Errors: those of {@link EaplogWriter} and of the data key cache; `CLOSED` after close.
 */
export class EnvelopeActionLog {
  private segment: Segment | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly files: string[] = [];
  private nextNumber = 1;
  private closed = false;

  constructor(private readonly options: EnvelopeActionLogOptions) {}

  /** Path of the file being written, once one is open. */
  get path(): string | undefined {
    return this.files.at(-1);
  }

  /** Every file this log has written, in order. */
  get paths(): readonly string[] {
    return this.files;
  }

  /** Appends one record; resolves once written (per the writer's fsync policy). */
  append(message: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new KmsError('CLOSED', 'envelope action log is closed'));
    // choosing the key (and rolling the file) is serialised; the write itself joins the writer's batch
    const step = this.tail.then(async () => {
      const key = await this.options.dataKeys.take();
      if (this.segment?.keyId !== key.id) await this.roll(key);
      return { written: (this.segment as Segment).writer.append(message) };
    });
    this.tail = step.catch(() => undefined);
    return step.then((s) => s.written);
  }

  /** Writes what was appended and closes the current file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.segment?.writer.close();
    this.segment = undefined;
  }

  private async roll(key: DataKey): Promise<void> {
    const previous = this.segment;
    this.segment = undefined;
    if (previous) await previous.writer.close();
    await mkdir(this.options.dir, { recursive: true });
    for (;;) {
      const path = join(this.options.dir, `${this.options.prefix ?? 'eap'}-${this.nextNumber++}.eaplog`);
      try {
        const writer = await EaplogWriter.create(path, { ...this.options.writer, encryption: envelopeEncryption(key) });
        this.segment = { keyId: key.id, writer };
        this.files.push(path);
        return;
      } catch (error) {
        if (!isEcpsError(error, 'ALREADY_EXISTS')) throw error;
      }
    }
  }
}
