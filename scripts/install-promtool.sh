#!/usr/bin/env bash
# promtool, to check and unit-test the alert rules (deploy/prometheus/), and Prometheus itself,
# which test/prometheus.test.ts runs on the deployed configuration against the real services.
# Debian ships both in its `prometheus` package. Only the test command needs them, so only the
# test command runs this. Idempotent.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "install-promtool: promtool or prometheus is missing (the alert-rule tests need them); as root run: apt-get install -y prometheus" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-promtool: promtool or prometheus is missing and there is no apt-get; put Prometheus's prometheus and promtool on the PATH" >&2
  exit 1
fi
echo "install-promtool: installing Debian's prometheus package (promtool, prometheus) for the alert-rule tests" >&2
export DEBIAN_FRONTEND=noninteractive
# The package would start and enable a Prometheus server on :9090 where systemd runs; the tests
# start their own on a free port. A policy-rc.d that refuses keeps it from starting now (if there
# is none already), disabling it keeps it from starting at boot.
own_policy=false
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  own_policy=true
fi
trap 'if [ "$own_policy" = true ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
# --no-install-recommends keeps the exporters out.
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends prometheus >&2
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --quiet prometheus >&2 || true
fi
