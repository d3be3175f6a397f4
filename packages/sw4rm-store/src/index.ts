// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-store.

export { LevelKvStore } from './level-kv-store';
