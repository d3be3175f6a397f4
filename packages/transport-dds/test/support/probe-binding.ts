// SPDX-License-Identifier: Apache-2.0
// Prints what this process gets when it asks for the binding (run under bubblewrap with libddsc hidden).
import { isEcpsError } from '@ecps/core';
import { ddsBindingStatus, ddsTransport } from '../../src/index';

let code: string | undefined;
try {
  ddsTransport({ nodeId: 'probe' });
} catch (error) {
  code = isEcpsError(error) ? error.code : String(error);
}
process.stdout.write(`${JSON.stringify({ code, status: ddsBindingStatus() })}\n`);
