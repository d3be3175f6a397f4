// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/eaplog: the .eaplog action log in every version (spec §6).

export { parseEaplog, EaplogReader } from './reader';
export { decodeMessages, recordPayload, verifyChain, MessageDecoder, ChainVerifier } from './decode';
export { readEaplog, validateEaplog, validateBytes, validateReader, unreadPart } from './validate';
export { EaplogWriter } from './writer';
export { encodeEaplog, planNewLog } from './log-plan';
export { migrateEaplog, migrateBytes, convertEaplog, batchMigrate } from './migrate';
export { repairEaplog } from './repair';
export { replayEaplog } from './replay';
export { LocalKeyFileProvider } from './local-key-provider';
export { zstdImplementation } from './compression';
export { PyFloat, pyObject, pyDumps, pyParse, pyFloatRepr } from './py-json';
export {
  EAPLOG_VERSIONS,
  LATEST_VERSION,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_CHECKPOINT_INTERVAL,
  buildHeader,
  headerFields,
} from './format';
export { runEaplogCli } from './cli';

export type {
  ParseOptions,
  ParsedEaplog,
  ReaderOptions,
  LogHead,
  LogRecord,
  ScanFindings,
  StackedHeader,
  TornTail,
  Corruption,
} from './reader';
export type { DecodeOptions, LogMessage, ChainReport } from './decode';
export type { ReadEaplogOptions, EaplogContents, ValidationReport, ValidationIssue, ValidateOptions } from './validate';
export type { EaplogWriterOptions, FsyncPolicy, Recovered } from './writer';
export type { LogFormatOptions, LogPlan } from './log-plan';
export type { EncryptionOptions, SigningOptions } from './encoder';
export type { MigrateOptions, MigrationReport, BatchResult } from './migrate';
export type { RepairReport } from './repair';
export type { ReplayOptions, ReplayResult, ReplayedAction } from './replay';
export type { LocalKeySpec } from './local-key-provider';
export type { PyJson, PyObject } from './py-json';
export type { EaplogVersion, EaplogLayout, Framing, Compression, Encryption, HeaderFields, WrappedDataKey } from './format';
export type { CliIo } from './cli';
