// SPDX-License-Identifier: Apache-2.0
// Speech-to-text as a pluggable provider: 16-bit mono PCM at 16 kHz in, text and a confidence out.
import { createHash } from 'node:crypto';
import { ApiError } from '../errors';

export interface PcmAudio {
  pcm: Int16Array;
  sampleRateHz: 16000;
  channels: 1;
}

export interface Transcript {
  text: string;
  confidence: number;
  language?: string;
}

export interface SpeechToTextProvider {
  readonly name: string;
  /** True when audio never leaves this machine. */
  readonly offline: boolean;
  /** Throws `ApiError` `stt_failed` when the engine fails. */
  transcribe(audio: PcmAudio, options?: { language?: string; signal?: AbortSignal }): Promise<Transcript>;
}

/** SHA-256 (hex) of the PCM bytes: the key of a {@link mockSpeechToText} map. */
export function audioDigest(audio: PcmAudio): string {
  return createHash('sha256').update(new Uint8Array(audio.pcm.buffer, audio.pcm.byteOffset, audio.pcm.byteLength)).digest('hex');
}

/**
 * The deterministic provider of tests: a fixed text, or a map from the audio's SHA-256 to a text (unknown audio is
 * an empty transcript with confidence 0).
 */
export function mockSpeechToText(answer: string | Readonly<Record<string, string>>, confidence = 1): SpeechToTextProvider {
  return {
    name: 'mock',
    offline: true,
    async transcribe(audio) {
      const text = typeof answer === 'string' ? answer : answer[audioDigest(audio)];
      return text === undefined ? { text: '', confidence: 0 } : { text, confidence, language: 'en' };
    },
  };
}

/** Cloud providers are plugins loaded only when selected; none ships in this package. */
export function unavailableProvider(name: string): never {
  throw new ApiError('config_invalid', `STT provider ${name} is not installed; install its plugin or choose none, mock or pocketsphinx`);
}
