// SPDX-License-Identifier: Apache-2.0
// The `eaplog` command line (spec §6.8). Exit codes: 0 success, 1 invalid / failed, 2 usage or I/O, 130 interrupted.
import { writeFile } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EcpsError, isEcpsError, toHex } from '@ecps/core';
import type { KeyProvider } from '@ecps/core';
import { EAP } from '@ecps/proto';
import { decodeMessages } from './decode';
import type { LogMessage } from './decode';
import { readBytes, readBytesWithProgress, writeFileAtomic } from './file-io';
import { EAPLOG_VERSIONS, LATEST_VERSION, concatBytes, u32le } from './format';
import type { Compression, EaplogVersion, Framing } from './format';
import { LocalKeyFileProvider } from './local-key-provider';
import { planNewLog } from './log-plan';
import { batchMigrate, migrateEaplog } from './migrate';
import type { MigrateOptions } from './migrate';
import { PROGRESS_THRESHOLD_BYTES, progressBar } from './progress';
import type { Progress } from './progress';
import { pyParse, pyToPlain } from './py-json';
import type { PyObject } from './py-json';
import { parseEaplog } from './reader';
import type { ParsedEaplog } from './reader';
import { actionTypeOf, replayEaplog } from './replay';
import type { ReplayedAction } from './replay';
import { validateBytes } from './validate';

/** Where the CLI reads and writes; defaults to the process's streams. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress bars only on a TTY. */
  isTTY?: boolean;
  /** Aborted on SIGINT: long commands stop and exit 130. */
  signal?: AbortSignal;
  /** Receives every replayed action (e.g. `ecps eaplog replay` feeding a running node). */
  replayHandler?: (action: ReplayedAction) => void | Promise<void>;
  /** The name in help and usage errors (default `eaplog`; `ecps eaplog` when mounted in the ecps CLI). */
  programName?: string;
}

/** Exit code carried by an error thrown inside a command. */
class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
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

const json = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v), 2);

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

/** Argument parser of the numeric options: a bad value is a usage error (exit 2) worded like the ecps CLI's. */
function count(text: string): number {
  const value = /^\+?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError('Expected an integer of at least 0.');
  return value;
}

function seconds(text: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw new InvalidArgumentError('Expected a number of seconds.');
  return value;
}

/** A provider holding the AES key file for the log's `key_id`. */
function keyProviderFor(parsed: ParsedEaplog, keyFile: string | undefined): KeyProvider | undefined {
  if (keyFile === undefined) return undefined;
  const keyId = parsed.fields?.keyId ?? 'default';
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

/** A usage error as one line naming the command (commander's `error: ...` and `(Did you mean ...?)` folded in). */
const usageError =
  (command: string) =>
  (text: string, write: (text: string) => void): void =>
    write(`${command}: ${text.replace(/^error: /, '').replace(/\n\(Did you mean (.+)\?\)/, ' (did you mean $1?)')}`);

/**
 * Runs the eaplog CLI with `argv` (the arguments after the program name) and returns the exit code.
 * Never calls process.exit.
 */
export async function runEaplogCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const out = io.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = io.stderr ?? ((t: string) => void process.stderr.write(t));
  const isTTY = io.isTTY ?? false;
  const print = (line: string): void => out(`${line}\n`);
  const checkAbort = (): void => {
    if (io.signal?.aborted) throw new EcpsError('CANCELLED', 'interrupted');
  };
  // Whole-file reads show a progress bar on a TTY when the file is large.
  const load = async (file: string): Promise<Uint8Array> => {
    let progress: Progress | undefined;
    const bytes = await readBytesWithProgress(file, (done, total) => {
      progress ??= progressBar(`reading ${file}`, total, err, isTTY && total >= PROGRESS_THRESHOLD_BYTES);
      progress.update(done);
    });
    progress?.done();
    return bytes;
  };

  const name = io.programName ?? 'eaplog';
  const program = new Command(name)
    .description('Inspect, validate, migrate and replay .eaplog action logs (ECPS spec §6)')
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err, outputError: usageError(name) })
    .showHelpAfterError(`Run '${name} --help' for usage.`);

  program
    .command('info')
    .description('print the header and structure of a log')
    .argument('<file>')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const bytes = await load(file);
      const parsed = parseEaplog(bytes);
      const data = parsed.records.filter((r) => r.kind === 'data' && r.crcOk).length;
      const f = parsed.fields;
      const info = {
        file,
        version: parsed.version,
        declared_version: parsed.declaredVersion,
        layout: parsed.layout,
        file_size: parsed.size,
        data_offset: parsed.dataOffset,
        created_at: f ? f.createdAt : null,
        sdk_version: f?.sdkVersion ?? null,
        robot_id: f?.robotId ?? null,
        session_id: f?.sessionId ?? null,
        compression: f?.compression ?? 'none',
        encryption: f?.encryption ?? 'none',
        key_id: f?.keyId ?? null,
        signing: f?.signing ?? null,
        metadata: f ? pyToPlain(f.metadata) : {},
        message_count: data,
        record_count: parsed.records.length,
        stacked_headers: parsed.stackedHeaders.map((s) => ({ offset: s.offset, size: s.size, header: pyToPlain(s.header) })),
        torn_tail: parsed.tornTail ?? null,
        corruptions: parsed.corruptions,
        warnings: parsed.warnings,
      };
      if (opts.json) return print(json(info));
      print(`File:            ${file}`);
      print(`Version:         ${info.version}${info.declared_version !== info.version ? ` (declared ${info.declared_version})` : ''}`);
      print(`Layout:          ${info.layout}`);
      print(`File size:       ${info.file_size} bytes`);
      print(`Data offset:     ${info.data_offset}`);
      if (f) {
        print(`Created:         ${new Date(f.createdAt * 1000).toString()} (${f.createdAt})`);
        print(`SDK version:     ${info.sdk_version ?? '-'}`);
        print(`Robot ID:        ${info.robot_id ?? '-'}`);
        print(`Session ID:      ${info.session_id ?? '-'}`);
        print(`Compression:     ${info.compression}`);
        print(`Encryption:      ${info.encryption}${info.key_id ? ` (key ${info.key_id})` : ''}`);
        if (info.signing) print(`Signing:         ${info.signing}`);
        print(`Metadata:        ${JSON.stringify(info.metadata)}`);
      }
      print(`Messages:        ${data}`);
      print(`Stacked headers: ${parsed.stackedHeaders.length}`);
      print(`Torn tail:       ${parsed.tornTail ? `${parsed.tornTail.bytes} bytes at offset ${parsed.tornTail.offset} (${parsed.tornTail.reason})` : 'none'}`);
      for (const c of parsed.corruptions) print(`Corruption:      offset ${c.offset}: ${c.reason}`);
    });

  const runValidate = async (file: string, opts: { strict?: boolean; publicKey?: string; json?: boolean; key?: string }, verify: boolean): Promise<void> => {
    const bytes = await load(file);
    let keyProvider: KeyProvider | undefined;
    if (opts.key !== undefined) {
      try {
        keyProvider = keyProviderFor(parseEaplog(bytes), opts.key);
      } catch {
        keyProvider = undefined; // the report below says why the file cannot be read
      }
    }
    if (opts.publicKey !== undefined && !/^[0-9a-fA-F]{64}$/.test(opts.publicKey)) {
      throw new EcpsError('INVALID_ARGUMENT', '--public-key must be 64 hex characters');
    }
    const report = await validateBytes(bytes, {
      strict: opts.strict === true,
      verify,
      ...(opts.publicKey !== undefined ? { publicKey: opts.publicKey } : {}),
      ...(keyProvider ? { keyProvider } : {}),
    });
    if (opts.json) print(json({ file, ...report }));
    else {
      print(`${file}: ${report.valid ? 'valid' : 'INVALID'} (${report.layout ?? 'unknown layout'}, version ${report.version ?? '?'}, ${report.messages} messages${report.signed ? `, ${report.checkpoints} checkpoints, ${report.sealed ? 'sealed' : 'unsealed'}` : ''})`);
      for (const e of report.errors) print(`  error: ${e.reason}${e.offset !== undefined ? ` (offset ${e.offset})` : ''}`);
      for (const w of report.warnings) print(`  warning: ${w}`);
    }
    if (!report.valid) throw new ExitError(1, '');
  };

  program
    .command('validate')
    .description('check structure, CRCs and signatures (exit 0 valid, 1 invalid, 2 error)')
    .argument('<file>')
    .option('--strict', 'treat warnings as errors')
    .option('--public-key <hex>', 'pinned Ed25519 public key')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { strict?: boolean; publicKey?: string; json?: boolean }) => runValidate(file, opts, false));

  program
    .command('verify')
    .description('validate --strict, plus a final checkpoint when signed, GCM tags with --key, and every EAP decoded')
    .argument('<file>')
    .option('--public-key <hex>', 'pinned Ed25519 public key')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .option('--json', 'machine-readable output')
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

  program
    .command('migrate')
    .description('migrate a log to another version or framing (spec §6.7)')
    .argument('<source>')
    .argument('<target>')
    .option('--target-version <version>', 'target version', LATEST_VERSION)
    .option('--robot-id <id>', 'robot id written into the new header')
    .option('--session-id <id>', 'session id written into the new header')
    .option('--metadata <json>', 'JSON object put first in the new metadata')
    .addOption(new Option('--framing <framing>', 'record framing of the target').choices(['reference', 'ecps-v2']))
    .option('--compat', 'write the reference layout (same as --framing reference)')
    .option('--key <file>', 'AES-256 key file to read an encrypted source')
    .option('--json', 'machine-readable output')
    .action(async (source: string, target: string, opts: Record<string, string | boolean | undefined>) => {
      const options = migrateOptions(opts);
      if (typeof opts.key === 'string') {
        const provider = keyProviderFor(parseEaplog(await readBytes(source)), opts.key);
        if (provider) options.keyProvider = provider;
      }
      const report = await migrateEaplog(source, target, options);
      if (opts.json) print(json(report));
      else print(`migrated ${source} (${report.sourceVersion}) -> ${target} (${report.targetVersion}, ${report.framing}): ${report.messageCount} messages${report.stackedHeaders ? `, ${report.stackedHeaders} stacked header(s) unwrapped` : ''}`);
    });

  program
    .command('batch-migrate')
    .description('migrate every matching file of a directory, keeping file names (exit 1 if any fails)')
    .argument('<sourceDir>')
    .argument('<targetDir>')
    .option('--target-version <version>', 'target version', LATEST_VERSION)
    .option('--pattern <glob>', 'file name pattern', '*.eaplog')
    .option('--json', 'machine-readable output')
    .action(async (sourceDir: string, targetDir: string, opts: Record<string, string | boolean | undefined>) => {
      const results = await batchMigrate(sourceDir, targetDir, {
        ...migrateOptions({ targetVersion: opts.targetVersion }),
        pattern: typeof opts.pattern === 'string' ? opts.pattern : '*.eaplog',
        onFile: (r) => {
          checkAbort();
          if (!opts.json) print(r.ok ? `ok     ${r.file} (${r.report?.messageCount} messages)` : `FAILED ${r.file}: ${r.error?.code}: ${r.error?.message}`);
        },
      });
      const failed = results.filter((r) => !r.ok).length;
      if (opts.json) print(json({ total: results.length, failed, results }));
      else print(`${results.length - failed}/${results.length} migrated`);
      if (failed > 0) throw new ExitError(1, '');
    });

  program
    .command('convert')
    .description(`convert a legacy log to the latest version (${LATEST_VERSION})`)
    .argument('<source>')
    .argument('<target>')
    .option('--json', 'machine-readable output')
    .action(async (source: string, target: string, opts: { json?: boolean }) => {
      const report = await migrateEaplog(source, target, { targetVersion: LATEST_VERSION });
      if (opts.json) print(json(report));
      else print(`converted ${source} (${report.sourceVersion}) -> ${target} (${report.targetVersion}): ${report.messageCount} messages`);
    });

  const readMessagesOf = async (file: string, keyFile: string | undefined): Promise<LogMessage[]> => {
    const parsed = parseEaplog(await load(file));
    const keyProvider = keyProviderFor(parsed, keyFile);
    return decodeMessages(parsed, keyProvider ? { keyProvider } : {});
  };

  program
    .command('extract')
    .description('write the messages as JSON (default, stdout) or as a headerless v1.0 file (binary, needs --output)')
    .argument('<file>')
    .option('--output <path>', 'write to this file instead of stdout (required for binary)')
    .addOption(new Option('--format <format>', 'json (hex payloads) or binary (u32le-framed records)').choices(['json', 'binary']).default('json'))
    .option('--json', 'same as --format json')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .action(async (file: string, opts: { output?: string; format: 'json' | 'binary'; json?: boolean; key?: string }) => {
      if (opts.json && opts.format === 'binary') throw new EcpsError('INVALID_ARGUMENT', '--json and --format binary contradict each other');
      if (opts.format === 'binary' && opts.output === undefined) throw new EcpsError('INVALID_ARGUMENT', '--format binary requires --output');
      const messages = await readMessagesOf(file, opts.key);
      const bar = progressBar('extracting', messages.length, err, isTTY && messages.length > 10_000);
      if (opts.format === 'binary') {
        const parts: Uint8Array[] = [];
        messages.forEach((m, i) => {
          parts.push(u32le(m.data.length), m.data);
          bar.update(i + 1);
        });
        bar.done();
        await writeFileAtomic(opts.output as string, concatBytes(parts));
        return;
      }
      const text = `[${messages.map((m, i) => { bar.update(i + 1); return JSON.stringify({ index: m.index, size: m.data.length, data: toHex(m.data) }); }).join(',')}]\n`;
      bar.done();
      if (opts.output === undefined) out(text);
      else await writeFile(opts.output, text).catch((cause: unknown) => {
        throw new EcpsError('IO_ERROR', `cannot write ${opts.output}: ${(cause as Error).message}`);
      });
    });

  program
    .command('list')
    .description('list the first messages: index, size, spec, id, action type, state_sha')
    .argument('<file>')
    .option('--max <n>', 'how many', count, 10)
    .addOption(new Option('--format <format>', 'text (tab-separated) or json').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .action(async (file: string, opts: { max: number; format: 'text' | 'json'; json?: boolean; key?: string }) => {
      const rows = (await readMessagesOf(file, opts.key)).slice(0, opts.max).map(summarize);
      if (opts.json || opts.format === 'json') return print(json(rows));
      for (const r of rows) {
        print(r.error ? `${r.index}\t${r.size}\t${r.error}` : `${r.index}\t${r.size}\t${r.spec}\t${r.id}\t${r.action_type}\t${r.state_sha}`);
      }
    });

  program
    .command('create')
    .description('create a log holding only its header (version 1.0 gives an empty file)')
    .argument('<file>')
    .option('--version <version>', 'log version', LATEST_VERSION)
    .option('--robot-id <id>', 'robot id written into the header')
    .option('--session-id <id>', 'session id written into the header')
    .option('--metadata <json>', 'JSON object stored as the header metadata')
    .addOption(new Option('--framing <framing>', 'record framing (default: ecps-v2 for 2.1, else reference)').choices(['reference', 'ecps-v2']))
    .addOption(new Option('--compression <codec>', 'record compression (native framing)').choices(['none', 'deflate', 'zstd']))
    .addOption(new Option('--encryption <alg>', 'record encryption (native framing; needs --key-id)').choices(['none', 'aes-256-gcm']))
    .option('--key-id <id>', 'name of the AES key (with --encryption)')
    .option('--signing-key <file>', 'Ed25519 seed file (32 raw bytes)')
    .option('--checkpoint-interval <n>', 'records between signed checkpoints (with --signing-key)', count, 64)
    .option('--created-at <float>', 'Unix seconds', seconds)
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: Record<string, string | number | boolean | undefined>) => {
      const version = parseVersion(String(opts.version));
      const framing = (opts.framing as Framing | undefined) ?? (version === '2.1' ? 'ecps-v2' : 'reference');
      const metadata = parseMetadata(opts.metadata as string | undefined);
      const encrypted = opts.encryption === 'aes-256-gcm';
      if (encrypted && typeof opts.keyId !== 'string') throw new EcpsError('INVALID_ARGUMENT', '--encryption aes-256-gcm needs --key-id');
      const createdAt = opts.createdAt as number | undefined;
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
          ? { signing: { provider: keys, keyId: 'signing', checkpointInterval: opts.checkpointInterval as number } }
          : {}),
      });
      await writeFile(file, plan.header, { flag: 'wx' }).catch((cause: unknown) => {
        throw new EcpsError((cause as NodeJS.ErrnoException).code === 'EEXIST' ? 'ALREADY_EXISTS' : 'IO_ERROR', `cannot create ${file}: ${(cause as Error).message}`);
      });
      if (opts.json) print(json({ file, version, framing, bytes: plan.header.length }));
      else print(`created ${file} (version ${version}, ${framing}, ${plan.header.length} bytes)`);
    });

  program
    .command('list-versions')
    .description('print the known log versions')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      if (opts.json) return print(json({ versions: EAPLOG_VERSIONS, latest: LATEST_VERSION }));
      for (const v of EAPLOG_VERSIONS) print(v === LATEST_VERSION ? `${v} (latest)` : v);
    });

  program
    .command('replay')
    .description('decode every EAP in order and print one JSON line each; check the state_sha sequence')
    .argument('<file>')
    .option('--expect-state-hashes <file>', 'one hex digest per line; exit 1 at the first divergence')
    .option('--key <file>', 'AES-256 key file (32 raw bytes)')
    .option('--interval-ms <ms>', 'pause between actions', count, 0)
    .action(async (file: string, opts: { expectStateHashes?: string; key?: string; intervalMs: number }) => {
      const bytes = await load(file);
      const keyProvider = keyProviderFor(parseEaplog(bytes), opts.key);
      let expected: string[] | undefined;
      if (opts.expectStateHashes !== undefined) {
        const text = new TextDecoder().decode(await readBytes(opts.expectStateHashes));
        expected = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
      }
      const result = await replayEaplog(bytes, {
        intervalMs: opts.intervalMs,
        ...(expected ? { expectStateHashes: expected } : {}),
        ...(keyProvider ? { keyProvider } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
        handler: async (a) => {
          print(JSON.stringify({ index: a.index, id: a.id, action_type: a.actionType, state_sha: a.stateSha, size: a.size, action: EAP.toJSON(a.eap) }));
          await io.replayHandler?.(a);
        },
      });
      if (result.divergence) {
        const d = result.divergence;
        err(`state_sha divergence at action ${d.index}: expected ${d.expected ?? '(none)'}, got ${d.actual ?? '(none)'}\n`);
        throw new ExitError(1, '');
      }
    });

  for (const command of program.commands) {
    const path = `${name} ${command.name()}`;
    command.configureOutput({ outputError: usageError(path) }).showHelpAfterError(`Run '${path} --help' for usage.`);
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return 0;
      if (error.code === 'commander.help') return 0;
      return 2;
    }
    const code = io.signal?.aborted ? 130 : exitCodeOf(error);
    if (!(error instanceof ExitError)) err(`${name}: ${describeError(error)}\n`);
    return code;
  }
}
