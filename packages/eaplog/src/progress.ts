// SPDX-License-Identifier: Apache-2.0
// A one-line progress bar for long CLI work on a TTY; silent otherwise (pipes, --json).

/** Files at least this large get a progress bar when stderr is a TTY. */
export const PROGRESS_THRESHOLD_BYTES = 8 * 1024 * 1024;

export interface Progress {
  update(done: number): void;
  done(): void;
}

const silent: Progress = { update: () => undefined, done: () => undefined };

/** A progress bar over `total` units written to `write` (stderr), or a silent one when `enabled` is false. */
export function progressBar(label: string, total: number, write: (text: string) => void, enabled: boolean): Progress {
  if (!enabled || total <= 0) return silent;
  let last = -1;
  return {
    update(done) {
      const pct = Math.min(100, Math.floor((done / total) * 100));
      if (pct === last) return;
      last = pct;
      const filled = Math.round(pct / 5);
      write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(20 - filled)}] ${String(pct).padStart(3)}%`);
    },
    done() {
      if (last >= 0) write('\n');
    },
  };
}
