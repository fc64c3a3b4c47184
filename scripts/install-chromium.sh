#!/usr/bin/env bash
# Debian's Chromium for the browser tests (playwright-core drives it; it downloads no browser).
# Only the test command needs it, so only the test command runs this. Idempotent.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "install-chromium: /usr/bin/chromium is missing (the browser tests need it); as root run: apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: /usr/bin/chromium is missing and there is no apt-get; install Chromium at /usr/bin/chromium" >&2
  exit 1
fi
echo "install-chromium: installing chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium >&2
