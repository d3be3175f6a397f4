#!/usr/bin/env bash
# The README's test command: set-up, repository checks, type checks, lint, package shape, then every test suite.
# Ends with one line: "N passed, N failed" (", N skipped" when some were skipped). The suites run with TMPDIR set to
# a fresh private folder; whatever they leave in it is listed and counted as failed. Arguments go to `turbo run test`
# (e.g. `--filter @ecps/eaplog`); with arguments, only the packages that ran are summed.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash tooling/scripts/setup.sh || exit 2
echo "  (set-up and build: ${SECONDS} s)"
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

status=0
# Each step says how long it took: the whole command must stay within CI's 30 minutes.
step() {
  local start=$SECONDS; echo "› $1"; shift
  "$@" || { echo "✗ failed: $*"; status=1; }
  echo "  ($((SECONDS - start)) s)"
}
step "self-contained (no path above the repository root)" node tooling/scripts/check-self-contained.mjs
step "generated protobuf code is up to date" pnpm --silent proto:check
step "no dependency cycles" node tooling/scripts/check-cycles.mjs
step "typecheck" pnpm exec turbo run typecheck --output-logs=errors-only
step "lint" pnpm exec turbo run lint --output-logs=errors-only
# one process for every package (packed once, checked with the publint and attw libraries); `pnpm exec turbo run
# check:package --filter <pkg>` runs the same check for one package
step "package shape (publint, attw)" node tooling/scripts/check-packages.mjs

find packages apps tooling bench -name test-results.json -not -path '*/node_modules/*' -delete 2>/dev/null
echo "› tests"
test_tmp="$(mktemp -d "${TMPDIR:-/tmp}/ecps-test-tmp.XXXXXX")"
chmod 755 "$test_tmp" # services the tests start under their own users (PostgreSQL) must reach their folders in it
# Two packages at a time: most suites wait on servers and child processes, and each uses ephemeral ports, folders of
# its own and distinct DDS domains, so two share the machine. `--only`: set-up built everything, so no build task
# takes a slot and every suite can start at once (the CLI's, the longest, no longer waits for all builds to be
# replayed and then runs alone at the end; it runs two of its files at a time, see apps/ecps/package.json).
tests_start=$SECONDS
TMPDIR="$test_tmp" pnpm exec turbo run test --only --continue --concurrency=2 --output-logs=new-only "$@" || status=1
echo "  (tests: $((SECONDS - tests_start)) s; whole command: ${SECONDS} s)"
node tooling/scripts/test-summary.mjs --temp-dir "$test_tmp" ${1:+--partial} || status=1
rm -rf "$test_tmp"
exit $status
