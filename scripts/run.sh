#!/usr/bin/env bash
# Runs the whole system locally: PostgreSQL and nats-server (unless DATABASE_URL / NATS_URL
# point at real ones), a local SMTP sink (unless SMTP_URL), and the three services. Ctrl-C
# stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh
# node directly (tsx as a loader), so Ctrl-C reaches the launcher without wrappers between.
exec node --import tsx scripts/run.ts "$@"
