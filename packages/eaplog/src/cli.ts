// SPDX-License-Identifier: Apache-2.0
// The `eaplog` command line (spec §6.8). Data goes to stdout, messages to stderr. Exit codes: 0 success, 1 invalid or
// failed (including any command that could not read every byte of its input), 2 usage or I/O error, 130
// interrupted. Every command streams its input, so memory does not grow with the size of the log.
import { Command, CommanderError, Option } from 'commander';
import { EcpsError, isEcpsError, toHex } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { EAP } from '@ecps/proto';
import { MessageDecoder } from './decode';
import type { LogMessage } from './decode';
import { AtomicFile, createFileDurable, readBytes } from './file-io';
import { EAPLOG_VERSIONS, LATEST_VERSION, u32le } from './format';
import type { Compression, EaplogVersion, Framing } from './format';
import { LocalKeyFileProvider } from './local-key-provider';
import { planNewLog } from './log-plan';
import { batchMigrate, migrateEaplog } from './migrate';
import type { MigrateOptions } from './migrate';
import { PROGRESS_THRESHOLD_BYTES, progressBar } from './progress';
import type { Progress } from './progress';
import { plainToPy, pyDumps, pyObject, pyParse } from './py-json';
import type { PyJson, PyObject } from './py-json';
import { EaplogReader } from './reader';
import type { LogHead, ScanFindings } from './reader';
import { repairEaplog } from './repair';
import { actionTypeOf, replayEaplog } from './replay';
import type { ReplayedAction } from './replay';
import { unreadPart, validateReader } from './validate';

/** Where the CLI reads and writes; defaults to the process's streams. */
export interface CliIo {
  /** Data. If it returns a promise, long outputs wait for it (backpressure). */
  stdout: (text: string) => unknown;
  /** Messages and warnings. */
  stderr: (text: string) => void;
  /** Progress bars only on a TTY. */
  isTTY?: boolean;
  /** Aborted on SIGINT: long commands stop and exit 130. */
  signal?: AbortSignal;
  /** Receives every replayed action (e.g. `ecps eaplog replay` feeding a running node). */
  replayHandler?: (action: ReplayedAction) => void | Promise<void>;
}

/** Exit code carried by an error thrown inside a command; the message (if any) was already printed. */
class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super('');
  }
}

const USAGE_CODES = new Set(['NOT_FOUND', 'IO_ERROR', 'INVALID_ARGUMENT', 'ALREADY_EXISTS', 'CONFIG_INVALID']);

function exitCodeOf(error: unknown): number {
  if (error instanceof ExitError) return error.exitCode;
  if (isEcpsError(error)) return error.code === 'CANCELLED' ? 130 : USAGE_CODES.has(error.code) ? 2 : 1;
  return 1;
}

function describeError(error: unknown): string {
  if (isEcpsError(error)) {
    const offset = error.details.offset;
    return `${error.code}: ${error.message}${typeof offset === 'number' && !error.message.includes('offset') ? ` (offset ${offset})` : ''}`;
  }
  return (error as Error).message;
}

/** One line of JSON: bigints as numbers when safe (else strings), bytes as hex. */
const json = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v instanceof Uint8Array ? toHex(v) : v,
  );

function parseMetadata(text: string | undefined): PyObject | undefined {
  if (text === undefined) return undefined;
  let value;
  try {
    value = pyParse(text);
  } catch (cause) {
    throw new EcpsError('INVALID_ARGUMENT', `--metadata is not valid JSON: ${(cause as Error).message}`);
  }
  if (!(value instanceof Map)) throw new EcpsError('INVALID_ARGUMENT', '--metadata must be a JSON object');
  return value;
}

function parseVersion(text: string): EaplogVersion {
  if (!(EAPLOG_VERSIONS as readonly string[]).includes(text)) {
    throw new EcpsError('INVALID_ARGUMENT', `unknown version ${text}; known: ${EAPLOG_VERSIONS.join(', ')}`);
  }
  return text as EaplogVersion;
}

function parseCount(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new EcpsError('INVALID_ARGUMENT', `${name} must be a non-negative integer, not ${JSON.stringify(text)}`);
  return value;
}

/** A provider holding the AES key file for the log's `key_id`. */
function keyProviderFor(head: LogHead, keyFile: string | undefined): KeyProvider | undefined {
  if (keyFile === undefined) return undefined;
  const keyId = head.fields?.keyId ?? 'default';
  return new LocalKeyFileProvider({ [keyId]: { algorithm: 'aes-256-gcm', file: keyFile } });
}

interface EapSummary {
  index: number;
  size: number;
  spec?: string;
  id?: string;
  action_type?: string;
  state_sha?: string;
  error?: string;
}

function summarize(message: LogMessage): EapSummary {
  try {
    const eap = EAP.decode(message.data);
    return { index: message.index, size: message.data.length, spec: eap.spec, id: eap.id, action_type: actionTypeOf(eap), state_sha: toHex(eap.stateSha) };
  } catch (error) {
    return { index: message.index, size: message.data.length, error: `not an EAP message: ${(error as Error).message}` };
  }
}

/** The header as printed by `info --json`: its own JSON values, so key order and ints vs floats survive. */
function infoJson(file: string, head: LogHead, findings: ScanFindings, messages: number): string {
  const h = head.header;
  const raw = (key: string, fallback: PyJson): PyJson => h?.get(key) ?? fallback;
  const info = pyObject([
    ['file', file],
    ['version', head.version],
    ['declared_version', head.declaredVersion],
    ['layout', head.layout],
    ['file_size', BigInt(head.size)],
    ['data_offset', BigInt(head.dataOffset)],
    ['created_at', raw('created_at', null)],
    ['sdk_version', raw('sdk_version', null)],
    ['robot_id', raw('robot_id', null)],
    ['session_id', raw('session_id', null)],
    ['compression', raw('compression', 'none')],
    ['encryption', raw('encryption', 'none')],
    ['key_id', raw('key_id', null)],
    ['signing', raw('signing', null)],
    ['metadata', raw('metadata', pyObject())],
    ['header_extensions', head.fields?.extensions ?? pyObject()],
    ['message_count', BigInt(messages)],
    ['record_count', BigInt(findings.recordCount)],
    ['stacked_headers', findings.stackedHeaders.map((s) => pyObject([['offset', BigInt(s.offset)], ['size', BigInt(s.size)], ['header', s.header]]))],
    ['torn_tail', findings.tornTail ? plainToPy({ offset: findings.tornTail.offset, bytes: findings.tornTail.bytes, reason: findings.tornTail.reason }) : null],
    ['corruptions', findings.corruptions.map((c) => plainToPy({ ...c }))],
    ['corruption_count', BigInt(findings.corruptionCount)],
    ['not_an_action_log', findings.notAnActionLog ? plainToPy({ ...findings.notAnActionLog }) : null],
    ['warnings', findings.warnings],
  ]);
  return pyDumps(info);
}

/** Writes to the process's stdout, waiting for it to drain when its buffer is full (or for it to fail or close). */
function writeStdout(text: string): Promise<void> | undefined {
  if (process.stdout.write(text)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off('drain', done).off('error', done).off('close', done);
      resolve();
    };
    process.stdout.once('drain', done).once('error', done).once('close', done);
  });
}

/**
 * Runs the eaplog CLI with `argv` (the arguments after the program name) and returns the exit code.
 * Never calls process.exit.
 */
export async function runEaplogCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const out = io.stdout ?? writeStdout;
  const err = io.stderr ?? ((t: string) => void process.stderr.write(t));
  const isTTY = io.isTTY ?? false;
  const print = async (line: string): Promise<void> => {
    await out(`${line}\n`);
  };
  const warn = (line: string): void => err(`eaplog: ${line}\n`);
  const checkAbort = (): void => {
    if (io.signal?.aborted) throw new EcpsError('CANCELLED', 'interrupted');
  };
  /** Opens a log for streaming, with a progress bar on a TTY for large files. */
  const openLog = async (file: string): Promise<{ reader: EaplogReader; done: () => void }> => {
    let progress: Progress | undefined;
    const reader = await EaplogReader.open(file, {
      onProgress: (done, total) => {
        checkAbort();
        progress ??= progressBar(`reading ${file}`, total, err, isTTY && total >= PROGRESS_THRESHOLD_BYTES);
        progress.update(done);
      },
    });
    return { reader, done: () => progress?.done() };
  };
  /** Warns about what could not be read and fails the command: no command exits 0 after skipping input bytes. */
  const failOnUnread = (file: string, findings: ScanFindings): void => {
    const unread = unreadPart(findings);
    if (!unread) return;
    const more = findings.corruptionCount > 1 ? ` (and ${findings.corruptionCount - 1} more damaged place(s))` : '';
    warn(`${file}: skipped what could not be read: ${unread.reason} at offset ${unread.offset}${more}; run 'eaplog validate ${file}' for details`);
    throw new ExitError(1);
  };

  const program = new Command('eaplog')
    .description('Inspect, validate, migrate and replay .eaplog action logs (ECPS spec §6)')
    .exitOverride()
    .configureOutput({ writeOut: (t) => void out(t), writeErr: err })
    .showHelpAfterError("hint: see 'eaplog <command> --help'");

  program
    .command('info')
    .description('print the header and structure of a log (exit 1 when the file is not an action log)')
    .argument('<file>')
    .option('--json', 'one line of JSON; header values exactly as stored (key order, ints vs floats)')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { reader, done } = await openLog(file);
      let messages = 0;
      let findings: ScanFindings;
      try {
        for await (const record of reader.records()) if (record.kind === 'data' && record.crcOk) messages++;
        findings = await reader.finish();
      } finally {
        done();
        await reader.close();
      }
      const head = reader.head;
      if (opts.json) await print(infoJson(file, head, findings, messages));
      else {
        const f = head.fields;
        await print(`File:            ${file}`);
        await print(`Version:         ${head.version}${head.declaredVersion !== head.version ? ` (declared ${head.declaredVersion})` : ''}`);
        await print(`Layout:          ${head.layout}`);
        await print(`File size:       ${head.size} bytes`);
        await print(`Data offset:     ${head.dataOffset}`);
        if (f && head.header) {
          await print(`Created:         ${new Date(f.createdAt * 1000).toString()} (${pyDumps(head.header.get('created_at') ?? null)})`);
          await print(`SDK version:     ${f.sdkVersion ?? '-'}`);
          await print(`Robot ID:        ${f.robotId ?? '-'}`);
          await print(`Session ID:      ${f.sessionId ?? '-'}`);
          await print(`Compression:     ${f.compression}`);
          await print(`Encryption:      ${f.encryption}${f.keyId ? ` (key ${f.keyId})` : ''}`);
          if (f.signing) await print(`Signing:         ${f.signing}`);
          await print(`Metadata:        ${pyDumps(f.metadata)}`);
          if (f.extensions) await print(`Extensions:      ${pyDumps(f.extensions)} (keys this version does not use)`);
        }
        await print(`Messages:        ${messages}`);
        await print(`Stacked headers: ${findings.stackedHeaders.length}`);
        const t = findings.tornTail;
        await print(`Torn tail:       ${t ? `${t.bytes} bytes at offset ${t.offset} (${t.reason})` : 'none'}`);
        for (const c of findings.corruptions) await print(`Corruption:      offset ${c.offset}: ${c.reason}`);
      }
      if (findings.notAnActionLog) {
        warn(`${file} is not an action log: ${findings.notAnActionLog.reason}`);
        throw new ExitError(1);
      }
    });

  const runValidate = async (file: string, opts: { strict?: boolean; publicKey?: string; json?: boolean; key?: string }, verify: boolean): Promise<void> => {
    if (opts.publicKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(opts.publicKey)) {
      throw new EcpsError('INVALID_ARGUMENT', '--public-key must be 64 hex characters');
    }
    let report;
    let opened: { reader: EaplogReader; done: () => void } | undefined;
    try {
      opened = await openLog(file);
    } catch (error) {
      if (!isEcpsError(error) || error.code === 'NOT_FOUND' || error.code === 'IO_ERROR' || error.code === 'CANCELLED') throw error;
      const offset = typeof error.details.offset === 'number' ? { offset: error.details.offset } : {};
      report = { valid: false, exitCode: 1, layout: undefined, version: undefined, messages: 0, records: 0, checkpoints: 0, signed: false, sealed: false, errors: [{ reason: error.message, ...offset }], errorCount: 1, warnings: [] as string[] };
    }
    if (opened) {
      const keyProvider = keyProviderFor(opened.reader.head, opts.key);
      try {
        report = await validateReader(opened.reader, {
          strict: opts.strict === true,
          verify,
          ...(opts.publicKey !== undefined ? { publicKey: opts.publicKey } : {}),
          ...(keyProvider ? { keyProvider } : {}),
        });
      } finally {
        opened.done();
      }
    }
    if (!report) return;
    if (opts.json) await print(json({ file, ...report }));
    else {
      const what = `${report.layout ?? 'unknown layout'}, version ${report.version ?? '?'}, ${report.messages} messages${report.signed ? `, ${report.checkpoints} checkpoints, ${report.sealed ? 'sealed' : 'unsealed'}` : ''}`;
      await print(`${file}: ${report.valid ? 'valid' : 'INVALID'} (${what})`);
      for (const e of report.errors) await print(`  error: ${e.reason}${e.offset !== undefined && !e.reason.includes('offset') ? ` (offset ${e.offset})` : ''}`);
      if (report.errorCount > report.errors.length) await print(`  ... and ${report.errorCount - report.errors.length} more errors`);
      for (const w of report.warnings) await print(`  warning: ${w}`);
    }
    if (!report.valid) throw new ExitError(1);
  };

  program
    .command('validate')
    .description('check structure, CRCs and signatures (exit 0 valid, 1 invalid or not an action log, 2 error)')
    .argument('<file>')
    .option('--strict', 'treat warnings (torn tail, legacy layout, stacked headers, unsealed) as errors')
    .option('--public-key <hex>', 'pinned Ed25519 public key')
    .option('--json', 'one line of JSON')
    .action((file: string, opts: { strict?: boolean; publicKey?: string; json?: boolean }) => runValidate(file, opts, false));

  program
    .command('verify')
    .description('validate --strict, plus a final checkpoint when signed, GCM tags with --key, and every EAP decoded')
    .argument('<file>')
    .option('--public-key <hex>', 'pinned Ed25519 public key')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .option('--json', 'one line of JSON')
    .action((file: string, opts: { publicKey?: string; key?: string; json?: boolean }) => runValidate(file, opts, true));

  const migrateOptions = (opts: Record<string, string | boolean | undefined>): MigrateOptions => {
    const options: MigrateOptions = {};
    if (typeof opts.targetVersion === 'string') options.targetVersion = parseVersion(opts.targetVersion);
    if (typeof opts.robotId === 'string') options.robotId = opts.robotId;
    if (typeof opts.sessionId === 'string') options.sessionId = opts.sessionId;
    const metadata = parseMetadata(typeof opts.metadata === 'string' ? opts.metadata : undefined);
    if (metadata) options.metadata = metadata;
    if (typeof opts.framing === 'string') options.framing = opts.framing as Framing;
    if (opts.compat === true) options.framing = 'reference';
    return options;
  };

  /** Turns a refused source into one line that says what to do about it. */
  const migrateFailure = (source: string, error: unknown): unknown => {
    if (isEcpsError(error, 'LOG_CORRUPT')) {
      return new EcpsError('LOG_CORRUPT', `${error.message}. To keep what is readable: eaplog repair ${source}`, { details: error.details, cause: error });
    }
    return error;
  };

  program
    .command('migrate')
    .description('migrate a log to another version or framing (spec §6.7); refuses a source it cannot read fully')
    .argument('<source>')
    .argument('<target>')
    .option('--target-version <version>', 'target version', LATEST_VERSION)
    .option('--robot-id <id>')
    .option('--session-id <id>')
    .option('--metadata <json>', 'JSON object put first in the new metadata')
    .addOption(new Option('--framing <framing>').choices(['reference', 'ecps-v2']))
    .option('--compat', 'write the reference layout (same as --framing reference)')
    .option('--key <file>', 'AES-256 key file to read an encrypted source')
    .option('--json', 'one line of JSON')
    .action(async (source: string, target: string, opts: Record<string, string | boolean | undefined>) => {
      const options = migrateOptions(opts);
      if (typeof opts.key === 'string') {
        const { reader } = await openLog(source);
        await reader.close();
        const provider = keyProviderFor(reader.head, opts.key);
        if (provider) options.keyProvider = provider;
      }
      const report = await migrateEaplog(source, target, options).catch((error: unknown) => {
        throw migrateFailure(source, error);
      });
      if (opts.json) await print(json(report));
      else await print(`migrated ${source} (${report.sourceVersion}) -> ${target} (${report.targetVersion}, ${report.framing}): ${report.messageCount} messages${report.stackedHeaders ? `, ${report.stackedHeaders} stacked header(s) unwrapped` : ''}`);
    });

  program
    .command('batch-migrate')
    .description('migrate every matching file of a directory, keeping file names (exit 1 if any fails)')
    .argument('<sourceDir>')
    .argument('<targetDir>')
    .option('--target-version <version>', 'target version', LATEST_VERSION)
    .option('--pattern <glob>', 'file name pattern', '*.eaplog')
    .option('--json', 'one line of JSON')
    .action(async (sourceDir: string, targetDir: string, opts: Record<string, string | boolean | undefined>) => {
      const lines: string[] = [];
      const results = await batchMigrate(sourceDir, targetDir, {
        ...migrateOptions({ targetVersion: opts.targetVersion }),
        pattern: typeof opts.pattern === 'string' ? opts.pattern : '*.eaplog',
        onFile: (r) => {
          checkAbort();
          if (!opts.json) lines.push(r.ok ? `ok     ${r.file} (${r.report?.messageCount} messages)` : `FAILED ${r.file}: ${r.error?.code}: ${r.error?.message}`);
        },
      });
      for (const line of lines) await print(line);
      const failed = results.filter((r) => !r.ok).length;
      if (opts.json) await print(json({ total: results.length, failed, results }));
      else await print(`${results.length - failed}/${results.length} migrated`);
      if (failed > 0) throw new ExitError(1);
    });

  program
    .command('convert')
    .description(`convert a legacy log to the latest version (${LATEST_VERSION}); refuses a source it cannot read fully`)
    .argument('<source>')
    .argument('<target>')
    .option('--json', 'one line of JSON')
    .action(async (source: string, target: string, opts: { json?: boolean }) => {
      const report = await migrateEaplog(source, target, { targetVersion: LATEST_VERSION }).catch((error: unknown) => {
        throw migrateFailure(source, error);
      });
      if (opts.json) await print(json(report));
      else await print(`converted ${source} (${report.sourceVersion}) -> ${target} (${report.targetVersion}): ${report.messageCount} messages`);
    });

  program
    .command('repair')
    .description('move the part of a log that cannot be read (torn tail, damaged records) into a side file')
    .argument('<file>')
    .option('--json', 'one line of JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const report = await repairEaplog(file);
      if (opts.json) await print(json(report));
      else if (!report.moved) await print(`${file}: nothing to repair (${report.messages} messages)`);
      else await print(`${file}: moved ${report.moved.bytes} bytes from offset ${report.moved.offset} (${report.moved.reason}) to ${report.moved.sideFile}; ${report.messages} messages remain`);
    });

  /** Streams the messages of an opened log to `each`; returns the findings, or undefined when `each` stopped early. */
  const eachMessage = async (
    log: { reader: EaplogReader; done: () => void },
    keyFile: string | undefined,
    each: (m: LogMessage) => Promise<boolean | void>,
  ): Promise<ScanFindings | undefined> => {
    const { reader, done } = log;
    try {
      const keyProvider = keyProviderFor(reader.head, keyFile);
      const decoder = new MessageDecoder(reader.head, keyProvider ? { keyProvider } : {});
      for await (const record of reader.records()) {
        const message = await decoder.decode(record);
        if (message && (await each(message)) === false) return undefined;
      }
      return await reader.finish();
    } finally {
      done();
      await reader.close();
    }
  };

  program
    .command('extract')
    .description('write the messages as JSON (default, stdout) or as a headerless v1.0 file (binary, needs --output); exit 1 if any record could not be read')
    .argument('<file>')
    .option('--output <path>')
    .addOption(new Option('--format <format>').choices(['json', 'binary']).default('json'))
    .option('--json', 'same as --format json')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .action(async (file: string, opts: { output?: string; format: 'json' | 'binary'; json?: boolean; key?: string }) => {
      const format = opts.json ? 'json' : opts.format;
      if (format === 'binary' && opts.output === undefined) throw new EcpsError('INVALID_ARGUMENT', '--format binary requires --output');
      const log = await openLog(file);
      let target: AtomicFile | undefined;
      try {
        target = opts.output === undefined ? undefined : await AtomicFile.create(opts.output);
      } catch (error) {
        await log.reader.close();
        throw error;
      }
      const emit = async (text: string | Uint8Array): Promise<void> => {
        if (target) await target.write(typeof text === 'string' ? new TextEncoder().encode(text) : text);
        else await out(text as string);
      };
      let findings: ScanFindings | undefined;
      try {
        let first = true;
        if (format === 'json') await emit('[');
        findings = await eachMessage(log, opts.key, async (m) => {
          if (format === 'binary') {
            await emit(u32le(m.data.length));
            await emit(m.data);
          } else {
            await emit(`${first ? '' : ','}${JSON.stringify({ index: m.index, size: m.data.length, data: toHex(m.data) })}`);
            first = false;
          }
        });
        if (format === 'json') await emit(']\n');
        await target?.commit();
      } catch (error) {
        await target?.abort();
        throw error;
      }
      failOnUnread(file, findings as ScanFindings);
    });

  program
    .command('list')
    .description('list the first messages: index, size, spec, id, action type, state_sha')
    .argument('<file>')
    .option('--max <n>', 'how many', '10')
    .addOption(new Option('--format <format>').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .action(async (file: string, opts: { max: string; format: 'text' | 'json'; json?: boolean; key?: string }) => {
      const max = parseCount('--max', opts.max);
      const rows: EapSummary[] = [];
      const findings = max === 0 ? undefined : await eachMessage(await openLog(file), opts.key, async (m) => rows.push(summarize(m)) < max);
      if (opts.json || opts.format === 'json') await print(json(rows));
      else for (const r of rows) await print(r.error ? `${r.index}\t${r.size}\t${r.error}` : `${r.index}\t${r.size}\t${r.spec}\t${r.id}\t${r.action_type}\t${r.state_sha}`);
      if (findings) failOnUnread(file, findings);
    });

  program
    .command('create')
    .description('create a log holding only its header (version 1.0 gives an empty file)')
    .argument('<file>')
    .option('--version <version>', 'log version', LATEST_VERSION)
    .option('--robot-id <id>')
    .option('--session-id <id>')
    .option('--metadata <json>')
    .addOption(new Option('--framing <framing>').choices(['reference', 'ecps-v2']))
    .addOption(new Option('--compression <codec>').choices(['none', 'deflate', 'zstd']))
    .addOption(new Option('--encryption <alg>').choices(['none', 'aes-256-gcm']))
    .option('--key-id <id>', 'name of the AES key (with --encryption)')
    .option('--signing-key <file>', 'Ed25519 seed file (32 raw bytes)')
    .option('--checkpoint-interval <n>')
    .option('--created-at <float>', 'Unix seconds')
    .option('--json', 'one line of JSON')
    .action(async (file: string, opts: Record<string, string | boolean | undefined>) => {
      const version = parseVersion(String(opts.version));
      const framing = (opts.framing as Framing | undefined) ?? (version === '2.1' ? 'ecps-v2' : 'reference');
      const metadata = parseMetadata(opts.metadata as string | undefined);
      const encrypted = opts.encryption === 'aes-256-gcm';
      if (encrypted && typeof opts.keyId !== 'string') throw new EcpsError('INVALID_ARGUMENT', '--encryption aes-256-gcm needs --key-id');
      const createdAt = opts.createdAt === undefined ? undefined : Number(opts.createdAt);
      if (createdAt !== undefined && !Number.isFinite(createdAt)) throw new EcpsError('INVALID_ARGUMENT', '--created-at must be a number');
      const keys = new LocalKeyFileProvider();
      if (typeof opts.signingKey === 'string') keys.addKey('signing', { algorithm: 'ed25519', file: opts.signingKey });
      const plan = await planNewLog({
        mode: framing === 'ecps-v2' ? 'native' : 'compat',
        version,
        robotId: (opts.robotId as string | undefined) ?? null,
        sessionId: (opts.sessionId as string | undefined) ?? null,
        ...(metadata ? { metadata } : {}),
        ...(createdAt !== undefined ? { createdAt } : {}),
        compression: (opts.compression as Compression | undefined) ?? 'none',
        // The header names the key; no record is encrypted here, so the key itself is not needed.
        ...(encrypted ? { encryption: { provider: keys, keyId: opts.keyId as string } } : {}),
        ...(typeof opts.signingKey === 'string'
          ? { signing: { provider: keys, keyId: 'signing', checkpointInterval: parseCount('--checkpoint-interval', String(opts.checkpointInterval ?? 64)) } }
          : {}),
      });
      await createFileDurable(file, plan.header);
      if (version === '1.0') warn(`${file} is empty: a v1.0 log has no header, so validate reports it as not an action log until it holds a record`);
      if (opts.json) await print(json({ file, version, framing, bytes: plan.header.length }));
      else await print(`created ${file} (version ${version}, ${framing}, ${plan.header.length} bytes)`);
    });

  program
    .command('list-versions')
    .description('print the known log versions')
    .option('--json', 'one line of JSON')
    .action(async (opts: { json?: boolean }) => {
      if (opts.json) return print(json({ versions: EAPLOG_VERSIONS, latest: LATEST_VERSION }));
      for (const v of EAPLOG_VERSIONS) await print(v === LATEST_VERSION ? `${v} (latest)` : v);
    });

  program
    .command('replay')
    .description('decode every EAP in order and print one JSON line each; check the state_sha sequence')
    .argument('<file>')
    .option('--expect-state-hashes <file>', 'one hex digest per line; exit 1 at the first divergence')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .option('--interval-ms <ms>', 'pause between actions', '0')
    .action(async (file: string, opts: { expectStateHashes?: string; key?: string; intervalMs: string }) => {
      const intervalMs = parseCount('--interval-ms', opts.intervalMs);
      let keyProvider: KeyProvider | undefined;
      if (opts.key !== undefined) {
        const { reader } = await openLog(file);
        await reader.close();
        keyProvider = keyProviderFor(reader.head, opts.key);
      }
      let expected: string[] | undefined;
      if (opts.expectStateHashes !== undefined) {
        const text = new TextDecoder().decode(await readBytes(opts.expectStateHashes));
        expected = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
      }
      const result = await replayEaplog(file, {
        intervalMs,
        ...(expected ? { expectStateHashes: expected } : {}),
        ...(keyProvider ? { keyProvider } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
        handler: async (a) => {
          await print(JSON.stringify({ index: a.index, id: a.id, action_type: a.actionType, state_sha: a.stateSha, size: a.size, action: EAP.toJSON(a.eap) }));
          await io.replayHandler?.(a);
        },
      });
      if (result.divergence) {
        const d = result.divergence;
        warn(`state_sha divergence at action ${d.index}: expected ${d.expected ?? '(none)'}, got ${d.actual ?? '(none)'}`);
        throw new ExitError(1);
      }
      if (result.unread) {
        warn(`${file}: replay stopped short: ${result.unread.reason} at offset ${result.unread.offset}`);
        throw new ExitError(1);
      }
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' || error.exitCode === 0) return 0;
      return 2;
    }
    const code = io.signal?.aborted ? 130 : exitCodeOf(error);
    if (!(error instanceof ExitError)) err(`eaplog: ${describeError(error)}\n`);
    if (isEcpsError(error, 'INVALID_ARGUMENT')) err(`hint: see 'eaplog ${argv[0] ?? ''} --help'\n`);
    return code;
  }
}

