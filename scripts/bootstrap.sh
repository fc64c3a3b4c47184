#!/usr/bin/env bash
# Makes a fresh machine ready: checks Node, installs the pinned pnpm and the workspace's
# dependencies, and the pinned Go-built tools. Idempotent; everything cached outside the repo.
# Source it (`. scripts/bootstrap.sh`) to get pnpm and the tools on PATH.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PNPM_VERSION="$(node -p "require('$REPO_ROOT/package.json').packageManager.split('@')[1]")"
CACHE_ROOT="${COUNTERSIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/countersign}"
mkdir -p "$CACHE_ROOT"

node_ok="$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=19)?1:0)')"
if [ "$node_ok" != "1" ]; then
  echo "bootstrap: Node >= 20.19 is required (found $(node --version))" >&2
  exit 1
fi

# pnpm: the exact version from package.json, installed into the cache (no global changes).
PNPM_PREFIX="$CACHE_ROOT/pnpm-$PNPM_VERSION"
if [ ! -x "$PNPM_PREFIX/node_modules/.bin/pnpm" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION" >&2
  npm install --silent --no-audit --no-fund --prefix "$PNPM_PREFIX" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$PNPM_PREFIX/node_modules/.bin:$PATH"

# Dependencies: skip when the lockfile has not changed since the last successful install.
stamp="$REPO_ROOT/node_modules/.countersign-install-stamp"
want="$(sha256sum "$REPO_ROOT/pnpm-lock.yaml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  (cd "$REPO_ROOT" && pnpm install --frozen-lockfile --prefer-offline --reporter=append-only >&2)
  echo "$want" >"$stamp"
fi

# Debian's chromium for the browser tests (playwright-core drives it; it downloads no browser).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "bootstrap: installing chromium for the browser tests" >&2
    (export DEBIAN_FRONTEND=noninteractive && apt-get update -qq >&2 && apt-get install -y -qq chromium >&2)
  else
    echo "bootstrap: /usr/bin/chromium is missing; as root run: apt-get install -y chromium" >&2
    exit 1
  fi
fi

# Pinned opa, nats-server and nats CLI (built once with go install, then cached).
TOOLS_BIN="$(bash "$REPO_ROOT/scripts/install-tools.sh")"
export COUNTERSIGN_BIN="$TOOLS_BIN"
export PATH="$TOOLS_BIN:$PATH"
