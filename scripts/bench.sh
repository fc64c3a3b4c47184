#!/usr/bin/env bash
# `pnpm bench`: bootstraps (dependencies, pinned tools) and runs bench/run.ts, which runs every
# scenario, prints the tables and writes bench/results/. Benchmarks are not tests: they report
# figures and fail only if they cannot run. See docs/benchmarks.md.
#
#   bash scripts/bench.sh                    # everything (about 15 minutes)
#   bash scripts/bench.sh --quick            # short runs, small data: for iterating
#   bash scripts/bench.sh --only policy,e2e  # some scenarios
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh

# The services run from the compiled build, as in the image (bench/lib/system.ts).
pnpm build
exec node --import tsx bench/run.ts "$@"
