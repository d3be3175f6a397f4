#!/usr/bin/env bash
# The README's demo command: set-up, then `ecps demo` (extra arguments are passed through).
set -euo pipefail
cd "$(dirname "$0")/../.."
ECPS_SKIP_APT=1 bash tooling/scripts/setup.sh
exec node apps/ecps/dist/cli.js demo "$@"
