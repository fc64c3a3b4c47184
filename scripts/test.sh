#!/usr/bin/env bash
# The one command that runs every check: lint, types, the Rego policy tests, unit and
# integration tests (real PostgreSQL and nats-server, started and stopped by the harness).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh

stray() { pgrep -f 'countersign-(pg|nats)-' 2>/dev/null | sort || true; }
before="$(stray)"

echo "== lint and format (biome)"
pnpm exec biome check .
echo "== types (tsc)"
pnpm exec tsc -p tsconfig.json
if [ -d policies ] && ls policies/*/*.rego >/dev/null 2>&1; then
  echo "== policy (opa fmt, check, test)"
  bash scripts/test-policy.sh
fi
echo "== tests (vitest)"
mkdir -p .artifacts
status=0
# The fault-injection suite (project "faults") runs separately: `pnpm test:faults`, see .ci/run.
pnpm exec vitest run --project unit --project integration --reporter=default --reporter=json --outputFile.json=.artifacts/vitest.json || status=$?

# The harness must leave no server behind, even when tests failed.
sleep 0.5
after="$(stray)"
leftover="$(comm -13 <(echo "$before") <(echo "$after") | grep -v '^$' || true)"
if [ -n "$leftover" ]; then
  echo "test.sh: test servers left running after the tests:" >&2
  ps -o pid,args -p "$(echo "$leftover" | paste -sd,)" >&2 || true
  status=1
fi
node -e '
  const r = require("./.artifacts/vitest.json");
  const failed = r.numFailedTests, passed = r.numPassedTests, skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || status=1
exit "$status"
