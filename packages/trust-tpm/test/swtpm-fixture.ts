// SPDX-License-Identifier: Apache-2.0
// Shared by the tests that need a real TPM: swtpm (Debian `swtpm`) started by @ecps/testkit, stopped by pid.
import { describe } from '@jest/globals';
import { startSwtpm, swtpmAvailable, type SwtpmHandle } from '@ecps/testkit';
import { TpmKeyProvider, type TpmKeyProviderOptions } from '../src/tpm-key-provider';
import { tcpTransport } from '../src/transport';

const available = swtpmAvailable();
if (!available) console.warn('swtpm is not installed: TPM tests skipped (apt-get install swtpm; see tooling/scripts/apt-packages.txt)');

/** `describe` when swtpm is installed, `describe.skip` (with a notice) otherwise. */
export const describeTpm = (available ? describe : describe.skip) as typeof describe;

/** A provider on `swtpm` over TCP. */
export function openProvider(swtpm: SwtpmHandle, options: Partial<TpmKeyProviderOptions> = {}): Promise<TpmKeyProvider> {
  return TpmKeyProvider.open({ transport: tcpTransport({ port: swtpm.port }), ...options });
}

export { startSwtpm };
export type { SwtpmHandle };
