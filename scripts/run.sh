#!/usr/bin/env bash
# Runs the whole system locally: PostgreSQL and nats-server (unless DATABASE_URL / NATS_URL
# point at real ones), the policy bundle, and the services. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh
exec pnpm exec tsx scripts/run.ts "$@"
