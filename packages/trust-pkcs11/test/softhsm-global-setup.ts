// SPDX-License-Identifier: Apache-2.0
// Jest global setup: one fresh SoftHSM2 token per run. It runs in the parent process, so SOFTHSM2_CONF reaches the
// real environment the native module reads (a test file's process.env is a sandboxed copy).
import { createSoftHsmToken, softHsmAvailable } from '@ecps/testkit/softhsm';

export default function setup(): void {
  if (!softHsmAvailable()) return;
  const token = createSoftHsmToken();
  process.env['ECPS_TEST_SOFTHSM_TOKEN'] = JSON.stringify({ modulePath: token.modulePath, label: token.label, pin: token.pin, soPin: token.soPin });
  (globalThis as { __ecpsSoftHsm?: { cleanup(): void } }).__ecpsSoftHsm = token;
}
