// SPDX-License-Identifier: Apache-2.0
// Types of @mongodb-js/zstd's native functions (the package types only its index.js wrapper, which drops `level`).
declare module '@mongodb-js/zstd/bindings.js' {
  export function compress(data: Buffer, level?: number): Promise<Buffer>;
  export function decompress(data: Buffer): Promise<Buffer>;
}
