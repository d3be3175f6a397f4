#!/usr/bin/env bash
# Idempotent set-up shared by the README's commands: pnpm, the Debian packages the tests need,
# dependencies and a build. Fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

PNPM_VERSION=10.34.9
need_node="20.19.0"
if ! node -e "const [a,b]=process.versions.node.split('.').map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)"; then
  echo "ECPS needs Node >= ${need_node}; found $(node -v)" >&2
  exit 2
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "› installing pnpm ${PNPM_VERSION}"
  npm install -g "pnpm@${PNPM_VERSION}" --loglevel=error >/dev/null
fi

if [ "${ECPS_SKIP_APT:-}" != "1" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  missing=()
  while read -r pkg; do
    [ -z "$pkg" ] || [ "${pkg#\#}" != "$pkg" ] && continue
    # "a|b": either package will do (kubectl comes from Debian or from Kubernetes' own repository); install the first
    found=""
    for alt in ${pkg//|/ }; do
      dpkg-query -W -f='${Status}' "$alt" 2>/dev/null | grep -q "install ok installed" && found=1
    done
    [ -n "$found" ] || missing+=("${pkg%%|*}")
  done < tooling/scripts/apt-packages.txt
  if [ ${#missing[@]} -gt 0 ]; then
    echo "› installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian starts some services on install; tests launch their own on ephemeral ports.
  for svc in mosquitto etcd postgresql redis-server; do
    systemctl is-active --quiet "$svc" 2>/dev/null && systemctl stop "$svc" 2>/dev/null || true
  done
  # The unprivileged account that test servers refusing root (PostgreSQL) and sandboxed test bots run as.
  getent passwd ecps-test >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin ecps-test
fi

export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.pnpm/lock.yaml ]; then
  echo "› pnpm install"
  pnpm install --frozen-lockfile --reporter=append-only >/dev/null
fi
# The Cyclone DDS binding is built by @ecps/transport-dds's install script; build it now if Cyclone DDS arrived after
# the last install or its C source changed since the binding was built (the script never fails: without Cyclone DDS
# it records why and the transport says what to install).
dds_binding=packages/transport-dds/build/Release/ecps_dds.node
if [ ! -f "$dds_binding" ] || [ -n "$(find packages/transport-dds/native -newer "$dds_binding" -type f 2>/dev/null)" ]; then
  echo "› native build: @ecps/transport-dds"
  pnpm --filter @ecps/transport-dds run build:native >/dev/null
fi
node tooling/scripts/build.mjs
