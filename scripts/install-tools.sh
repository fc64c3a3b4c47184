#!/usr/bin/env bash
# Installs the pinned Go-built tools (OPA CLI, nats-server, NATS CLI) into a cache outside
# the repository, keyed by version, so a second run reuses them instead of rebuilding.
# Prints nothing but errors unless VERBOSE=1. Safe to run concurrently (per-tool lock).
set -euo pipefail

OPA_VERSION="${OPA_VERSION:-v1.22.2}"
NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-v2.14.9}"
NATS_CLI_VERSION="${NATS_CLI_VERSION:-v0.3.0}"
# Jaeger v2 (an OTLP receiver and a query API in one binary), only for the trace test: built on
# request (`install-tools.sh jaeger`), not by the bootstrap, as it is the slowest build here.
JAEGER_VERSION="${JAEGER_VERSION:-v1.75.0}"

CACHE_ROOT="${COUNTERSIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/countersign}"
TOOLS_DIR="$CACHE_ROOT/tools"
mkdir -p "$TOOLS_DIR"

log() { if [ "${VERBOSE:-0}" = "1" ]; then echo "install-tools: $*" >&2; fi; }

# install_tool NAME MODULE_PATH VERSION
install_tool() {
  local name="$1" module="$2" version="$3"
  local dir="$TOOLS_DIR/$name-$version"
  if [ -x "$dir/$name" ]; then
    log "$name $version cached"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "install-tools: Go is required to build $name $version (go install); install Go >= 1.24" >&2
    exit 1
  fi
  mkdir -p "$dir"
  (
    # flock keeps two parallel callers from building into the same directory.
    exec 9>"$dir.lock"
    flock 9
    if [ -x "$dir/$name" ]; then exit 0; fi
    echo "install-tools: building $name $version with go install (first run only, can take minutes)" >&2
    local tmp
    tmp="$(mktemp -d "$TOOLS_DIR/.build-$name-XXXXXX")"
    if ! GOBIN="$tmp" GOFLAGS="-trimpath" CGO_ENABLED=0 go install "$module@$version"; then
      # `go install m@v` also asks the proxy for the module's version list (deprecation check);
      # where that list is refused, build the same pinned version inside a throwaway module.
      echo "install-tools: go install failed; building $module@$version in a temporary module" >&2
      (
        cd "$tmp"
        go mod init countersign-tool-build >/dev/null 2>&1
        go get "$module@$version"
        CGO_ENABLED=0 go build -trimpath -o "$tmp/$name" "$module"
      )
    fi
    mv "$tmp/$name" "$dir/$name"
    rm -rf "$tmp"
  )
}

# `install-tools.sh jaeger`: builds (or finds) Jaeger and prints the binary's path, nothing else.
if [ "${1:-}" = "jaeger" ]; then
  install_tool jaeger github.com/jaegertracing/jaeger/cmd/jaeger "$JAEGER_VERSION"
  echo "$TOOLS_DIR/jaeger-$JAEGER_VERSION/jaeger"
  exit 0
fi

install_tool opa github.com/open-policy-agent/opa "$OPA_VERSION"
install_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
install_tool nats github.com/nats-io/natscli/nats "$NATS_CLI_VERSION"

mkdir -p "$CACHE_ROOT/bin"
ln -sfn "$TOOLS_DIR/opa-$OPA_VERSION/opa" "$CACHE_ROOT/bin/opa"
ln -sfn "$TOOLS_DIR/nats-server-$NATS_SERVER_VERSION/nats-server" "$CACHE_ROOT/bin/nats-server"
ln -sfn "$TOOLS_DIR/nats-$NATS_CLI_VERSION/nats" "$CACHE_ROOT/bin/nats"
# The only stdout: the bin directory, for callers to put on PATH.
echo "$CACHE_ROOT/bin"
