// SPDX-License-Identifier: Apache-2.0
// @ecps/core/internal: helpers shared by sibling @ecps packages. NOT public API: no semver promise, may change in
// any release. Node only.

export { writeFileDurable, syncDirectory, DURABLE_TEMP_SUFFIX } from './durable-file';

export type { DurableFs, DurableFileHandle, DurableWriteOptions } from './durable-file';
