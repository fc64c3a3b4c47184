#!/usr/bin/env bash
# promtool, to check and unit-test the alert rules (deploy/prometheus/). Debian ships it in its
# `prometheus` package. Only the test command needs it, so only the test command runs this.
# Idempotent.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "install-promtool: promtool is missing (the alert-rule tests need it); as root run: apt-get install -y prometheus" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-promtool: promtool is missing and there is no apt-get; install Prometheus's promtool on the PATH" >&2
  exit 1
fi
echo "install-promtool: installing prometheus (for promtool) for the alert-rule tests" >&2
export DEBIAN_FRONTEND=noninteractive
# Only the package's files are wanted: no service is started in a container without an init
# system, and --no-install-recommends keeps the exporters and the web console out.
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends prometheus >&2
