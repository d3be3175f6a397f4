// SPDX-License-Identifier: Apache-2.0

/** Resolves when `signal` is aborted (at once if it already is): a server's "run until Ctrl-C". */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
