#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The `ecps` executable that package managers link (`pnpm ecps`, `npx ecps`, a global install): it exists before the
// first build, so the link is made at install time, and it runs the built CLI or says how to build it.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('ecps: the CLI is not built yet.\nRun `bash tooling/scripts/setup.sh` (or `pnpm build`) at the repository root.\n');
  process.exit(1);
}
await import(cli.href);
