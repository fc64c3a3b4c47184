#!/usr/bin/env bash
# Makes a fresh machine ready to run Countersign: checks the platform and Node, installs the
# pinned pnpm and the workspace's dependencies, and the pinned Go-built tools. Idempotent;
# everything cached outside the repo. Source it (`. scripts/bootstrap.sh`) to get pnpm and the
# tools on PATH; it also links pnpm into a bin directory on PATH for later shells. The browser
# tests' Chromium is the test command's (scripts/install-chromium.sh), not this.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Supported: Linux on x86_64. PostgreSQL for the run command and the tests comes from the
# embedded-postgres package for linux-x64; elsewhere, use docker compose (docker-compose.yml).
platform="$(uname -s) $(uname -m)"
case "$platform" in
  "Linux x86_64") ;;
  *)
    echo "bootstrap: unsupported platform: $platform; the run and test commands support Linux x86_64 only (docker compose runs anywhere Docker does)" >&2
    exit 1
    ;;
esac

node_ok="$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=19)?1:0)' 2>/dev/null || echo 0)"
if [ "$node_ok" != "1" ]; then
  echo "bootstrap: Node >= 20.19 is required (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

PNPM_VERSION="$(node -p "require('$REPO_ROOT/package.json').packageManager.split('@')[1]")"
# The cache root: COUNTERSIGN_CACHE, else $XDG_CACHE_HOME/countersign, else ~/.cache/countersign.
CACHE_ROOT="${COUNTERSIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/countersign}"
export COUNTERSIGN_CACHE="$CACHE_ROOT"
mkdir -p "$CACHE_ROOT/bin"
# Printed on every run, so nobody has to guess where it is.
echo "bootstrap: cache $CACHE_ROOT; tools (pnpm, opa, nats-server, nats) in $CACHE_ROOT/bin" >&2

# pnpm: the exact version from package.json, installed into the cache (no global npm changes).
PNPM_PREFIX="$CACHE_ROOT/pnpm-$PNPM_VERSION"
if [ ! -x "$PNPM_PREFIX/node_modules/.bin/pnpm" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION" >&2
  npm install --silent --no-audit --no-fund --prefix "$PNPM_PREFIX" "pnpm@$PNPM_VERSION" >&2
fi
PNPM_ENTRY="$PNPM_PREFIX/node_modules/pnpm/bin/pnpm.cjs"
ln -sfn "$PNPM_ENTRY" "$CACHE_ROOT/bin/pnpm"

# pnpm for later shells too, as the docs use it: /usr/local/bin as root, ~/.local/bin otherwise
# (COUNTERSIGN_LINK_DIR overrides). Another pnpm already there (npm's, corepack's) is left alone.
if [ "$(id -u)" = "0" ]; then link_dir="${COUNTERSIGN_LINK_DIR:-/usr/local/bin}"; else link_dir="${COUNTERSIGN_LINK_DIR:-$HOME/.local/bin}"; fi
link="$link_dir/pnpm"
link_target="$(readlink "$link" 2>/dev/null || true)"
# Ours: a link into a cache's pnpm-<version> (this version or an earlier one, replaced).
if { [ -e "$link" ] || [ -L "$link" ]; } && [[ "$link_target" != */pnpm-[0-9]*/node_modules/pnpm/bin/pnpm.cjs ]]; then
  echo "bootstrap: $link is another pnpm, left alone; the pinned one is $CACHE_ROOT/bin/pnpm" >&2
elif mkdir -p "$link_dir" 2>/dev/null && ln -sfn "$PNPM_ENTRY" "$link" 2>/dev/null; then
  case ":$PATH:" in
    *":$link_dir:"*) ;;
    *) echo "bootstrap: pnpm is linked in $link_dir, which is not on your PATH; add it: export PATH=\"$link_dir:\$PATH\"" >&2 ;;
  esac
else
  echo "bootstrap: could not link pnpm into $link_dir; use $CACHE_ROOT/bin/pnpm" >&2
fi
export PATH="$CACHE_ROOT/bin:$PATH"

# Dependencies: skip when the lockfile has not changed since the last successful install.
stamp="$REPO_ROOT/node_modules/.countersign-install-stamp"
want="$(sha256sum "$REPO_ROOT/pnpm-lock.yaml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  (cd "$REPO_ROOT" && pnpm install --frozen-lockfile --prefer-offline --reporter=append-only >&2)
  echo "$want" >"$stamp"
fi

# Pinned opa, nats-server and nats CLI (built once with go install, then cached).
# They land in $CACHE_ROOT/bin, already on PATH.
export COUNTERSIGN_BIN="$(bash "$REPO_ROOT/scripts/install-tools.sh")"
