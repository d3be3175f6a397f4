// SPDX-License-Identifier: Apache-2.0
export default function teardown(): void {
  (globalThis as { __ecpsSoftHsm?: { cleanup(): void } }).__ecpsSoftHsm?.cleanup();
}
