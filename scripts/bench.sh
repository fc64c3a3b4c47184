#!/usr/bin/env bash
# Runs every benchmark under bench/ in turn (each starts what it needs and prints a table).
# Benchmarks are not tests: they report figures and fail only if they cannot run.
#
#   bash scripts/bench.sh                 # all of bench/*.ts
#   bash scripts/bench.sh bench/policy.ts # one
#   BENCH_SECONDS=10 bash scripts/bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh

if [ "$#" -gt 0 ]; then
  benches=("$@")
else
  shopt -s nullglob
  benches=(bench/*.ts)
fi
[ "${#benches[@]}" -gt 0 ] || { echo "bench.sh: no benchmarks in bench/" >&2; exit 1; }

for bench in "${benches[@]}"; do
  echo "== $bench"
  pnpm exec tsx "$bench"
done
