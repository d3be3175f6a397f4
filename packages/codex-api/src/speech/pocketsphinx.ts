// SPDX-License-Identifier: Apache-2.0
// An offline speech-to-text provider on CMU PocketSphinx (Debian `pocketsphinx` + `pocketsphinx-en-us`), decoding
// against a JSGF grammar of the commands the intent parser knows and the names of the bots in the registry.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../errors';
import type { PcmAudio, SpeechToTextProvider, Transcript } from './provider';
import { encodeWav } from './wav';

export interface PocketsphinxOptions {
  /** The phrases a command may name a bot by (ids and names); asked before each utterance. */
  botPhrases: () => Promise<string[]>;
  /** `pocketsphinx_batch` (default from PATH). */
  binary?: string;
  /** The acoustic model and dictionary (default Debian's `/usr/share/pocketsphinx/model/en-us`). */
  modelDir?: string;
  /** Reported for a non-empty hypothesis: the grammar decoder gives no calibrated probability (default 0.9). */
  confidence?: number;
  /** Kills the decoder after this long (default 20 s). */
  timeoutMs?: number;
}

const VERB_RULE = 'start | run | launch | deploy | boot | spin up | stop | halt | kill | terminate | shut down | restart | reboot | bounce';

/** Words of the pronunciation dictionary, read once per file. */
const dictionaries = new Map<string, Promise<Set<string>>>();
function dictionaryWords(file: string): Promise<Set<string>> {
  let words = dictionaries.get(file);
  if (!words) {
    words = readFile(file, 'utf8').then((text) => new Set(text.split('\n').map((line) => line.split(/[\s(]/, 1)[0]!).filter(Boolean)));
    dictionaries.set(file, words);
  }
  return words;
}

/** The JSGF grammar: the command patterns over the bot phrases whose every word the dictionary can pronounce. */
export function commandGrammar(phrases: readonly string[], known: ReadonlySet<string>): string {
  const names = [...new Set(phrases.map((p) => p.toLowerCase().replace(/[-_]+/g, ' ').replace(/[^a-z' ]/g, ' ').replace(/\s+/g, ' ').trim()))].filter(
    (p) => p && p.split(' ').every((w) => known.has(w)),
  );
  const name = names.length > 0 ? names.join(' | ') : '<VOID>';
  return [
    '#JSGF V1.0;',
    'grammar codex;',
    'public <command> = <verb> [the] [bot] <name> | status of [the] <name> | check [on] <name> | list [all] bots | which bots are running | help;',
    `<verb> = ${VERB_RULE};`,
    `<name> = ${name};`,
    '',
  ].join('\n');
}

/**
 * A {@link SpeechToTextProvider} running `pocketsphinx_batch` on each utterance in a temporary folder (removed after).
 * Half a second of low-level noise is added before and after the audio: the decoder's silence and noise models need
 * some, and digital silence from a synthesizer or a trimmed recording has none. Throws `ApiError` `stt_failed` when the
 * decoder is missing, fails, or times out.
 */
export function pocketsphinxSpeechToText(options: PocketsphinxOptions): SpeechToTextProvider {
  const modelDir = options.modelDir ?? '/usr/share/pocketsphinx/model/en-us';
  const dict = join(modelDir, 'cmudict-en-us.dict');
  return {
    name: 'pocketsphinx',
    offline: true,
    async transcribe(audio: PcmAudio, opts = {}): Promise<Transcript> {
      const dir = await mkdtemp(join(tmpdir(), 'codex-stt-'));
      try {
        const known = await dictionaryWords(dict).catch((cause) => {
          dictionaries.delete(dict);
          throw new ApiError('stt_failed', `pocketsphinx model not found in ${modelDir} (Debian package pocketsphinx-en-us)`, { cause });
        });
        await writeFile(join(dir, 'command.gram'), commandGrammar(await options.botPhrases(), known));
        await writeFile(join(dir, 'utt.wav'), encodeWav(padWithNoise(audio.pcm, 8000), 16_000));
        await writeFile(join(dir, 'ctl'), 'utt\n');
        await run(
          options.binary ?? 'pocketsphinx_batch',
          ['-adcin', 'yes', '-adchdr', '44', '-cepdir', dir, '-cepext', '.wav', '-ctl', join(dir, 'ctl'), '-jsgf', join(dir, 'command.gram'),
            '-hmm', join(modelDir, 'en-us'), '-dict', dict, '-hyp', join(dir, 'out.hyp'), '-logfn', join(dir, 'decoder.log')],
          options.timeoutMs ?? 20_000,
          opts.signal,
          join(dir, 'decoder.log'),
        );
        const hyp = (await readFile(join(dir, 'out.hyp'), 'utf8')).trim();
        const text = hyp.replace(/\s*\(utt\s+-?\d+\)\s*$/, '').trim();
        return { text, confidence: text ? (options.confidence ?? 0.9) : 0, language: 'en-US' };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

function padWithNoise(pcm: Int16Array, padSamples: number): Int16Array {
  const out = new Int16Array(pcm.length + 2 * padSamples);
  out.set(pcm, padSamples);
  let seed = 1;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    out[i] = Math.max(-32768, Math.min(32767, out[i]! + (seed % 61) - 30));
  }
  return out;
}

function run(binary: string, args: string[], timeoutMs: number, signal: AbortSignal | undefined, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: 'ignore' });
    const kill = () => child.pid !== undefined && child.exitCode === null && child.kill('SIGKILL');
    const timer = setTimeout(kill, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (cause) => {
      clearTimeout(timer);
      reject(new ApiError('stt_failed', `cannot run ${binary} (Debian package pocketsphinx)`, { cause }));
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      if (code === 0) return resolve();
      void readFile(logFile, 'utf8')
        .catch(() => '')
        .then((log) => reject(new ApiError('stt_failed', `${binary} failed (${sig ?? `exit ${code}`}): ${log.split('\n').filter((l) => l.startsWith('ERROR')).slice(-2).join(' ')}`)));
    });
  });
}
