// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/codex-kubernetes.

export {};
