// SPDX-License-Identifier: Apache-2.0
// /ws/command/{user_id}: text commands through the intent parser, audio through speech-to-text first.
import type { WebSocket } from 'ws';
import type { Clock } from '@ecps/core';
import { isApiError } from '../errors';
import type { Conversation } from '../intent/conversation';
import type { Principal } from '../permissions';
import type { SpeechToTextProvider } from '../speech/provider';

export const MAX_TEXT_BYTES = 4096;
/** 30 s of 16-bit mono PCM at 16 kHz. */
export const MAX_AUDIO_BYTES = 960_000;

export interface CommandChannelOptions {
  conversation: Conversation;
  stt: SpeechToTextProvider | null;
  /** The principal's command budget, shared by all of its sockets. */
  limiter: CommandRateLimiter;
}

/**
 * At most `limit` commands in any `windowSec` per principal, whichever socket they arrive on (20 per 10 s by default).
 * Memory stays bounded: at most `maxPrincipals` principals are remembered; past that, those with no command left in
 * the window are dropped first, then the least recently active.
 */
export class CommandRateLimiter {
  private readonly recent = new Map<string, number[]>();

  constructor(
    readonly limit: number,
    readonly windowSec: number,
    private readonly clock: Clock,
    private readonly maxPrincipals = 10_000,
  ) {}

  /** Counts one command of `principal` and says whether it is within the budget (a refused one is not counted). */
  take(principal: string): boolean {
    const now = this.clock.now();
    const live = (t: number) => now - t < this.windowSec * 1000;
    const times = (this.recent.get(principal) ?? []).filter(live);
    this.recent.delete(principal); // re-inserted last: the map is in order of activity
    if (times.length >= this.limit) {
      this.recent.set(principal, times);
      return false;
    }
    times.push(now);
    this.recent.set(principal, times);
    if (this.recent.size > this.maxPrincipals) {
      for (const [key, list] of this.recent) if (!list.some(live)) this.recent.delete(key);
      while (this.recent.size > this.maxPrincipals) this.recent.delete(this.recent.keys().next().value!);
    }
    return true;
  }
}

/**
 * Serves one authenticated command socket. Replies are `transcript`, `response` or `error {code, detail}` (`rate_limited`
 * past the principal's budget, `validation_error`, `audio_too_long`, `stt_disabled`, `stt_failed`, `internal_error`).
 */
export function serveCommandSocket(socket: WebSocket, principal: Principal, options: CommandChannelOptions): void {
  let audio: Buffer[] = [];
  let audioBytes = 0;
  let audioTooLong = false;
  let queue = Promise.resolve();
  const error = (code: string, detail: string) => socket.send(JSON.stringify({ type: 'error', code, detail }));

  const handleText = async (message: string, sessionId: string | undefined, transcriptConfidence?: number) => {
    const reply = await options.conversation.handle(principal, message, { ...(sessionId ? { sessionId } : {}), ...(transcriptConfidence === undefined ? {} : { transcriptConfidence }) });
    socket.send(JSON.stringify(reply));
  };

  const handleAudioEnd = async (sessionId: string | undefined) => {
    const bytes = Buffer.concat(audio);
    const tooLong = audioTooLong;
    audio = [];
    audioBytes = 0;
    audioTooLong = false;
    if (tooLong) return error('audio_too_long', `an utterance may be at most ${MAX_AUDIO_BYTES} bytes (30 s)`);
    if (!options.stt) return error('stt_disabled', 'speech-to-text is disabled (STT_PROVIDER=none)');
    if (bytes.length === 0 || bytes.length % 2 !== 0) return error('validation_error', 'audio must be 16-bit little-endian mono PCM at 16 kHz');
    const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    try {
      const transcript = await options.stt.transcribe({ pcm, sampleRateHz: 16000, channels: 1 });
      socket.send(JSON.stringify({ type: 'transcript', text: transcript.text, confidence: transcript.confidence }));
      await handleText(transcript.text, sessionId, transcript.confidence);
    } catch (e) {
      error(isApiError(e) ? e.reason : 'stt_failed', isApiError(e) ? e.message : 'speech-to-text failed');
    }
  };

  socket.on('message', (raw: Buffer, isBinary: boolean) => {
    if (isBinary) {
      audioBytes += raw.length;
      if (audioBytes > MAX_AUDIO_BYTES) {
        audioTooLong = true;
        audio = [];
      } else audio.push(Buffer.from(raw));
      return;
    }
    if (raw.length > MAX_TEXT_BYTES) return error('validation_error', `a text message may be at most ${MAX_TEXT_BYTES} bytes`);
    let parsed: { type?: unknown; message?: unknown; session_id?: unknown };
    try {
      const value = JSON.parse(raw.toString('utf8')) as unknown;
      parsed = typeof value === 'object' && value !== null ? (value as typeof parsed) : { message: raw.toString('utf8') };
    } catch {
      parsed = { message: raw.toString('utf8') };
    }
    const sessionId = typeof parsed.session_id === 'string' ? parsed.session_id.slice(0, 128) : undefined;
    if (!options.limiter.take(principal.sub)) return error('rate_limited', `at most ${options.limiter.limit} commands per ${options.limiter.windowSec} s`);
    const work = parsed.type === 'audio_end' ? () => handleAudioEnd(sessionId) : typeof parsed.message === 'string' ? () => handleText(parsed.message as string, sessionId) : null;
    if (!work) return error('validation_error', 'expected {"message": "..."} or {"type": "audio_end"}');
    // One command at a time per socket, in order.
    queue = queue.then(work).catch(() => error('internal_error', 'the command failed'));
  });
}
