#!/usr/bin/env bash
# Lints, unit-tests and compiles the approval policy under policies/ the way the policy
# service loads it (a WASM bundle with two entrypoints). Exits non-zero on the first failure.
#
#   bash scripts/test-policy.sh          # summary only
#   VERBOSE=1 bash scripts/test-policy.sh  # every test's result too
#
# Environment: OPA_BIN (an opa binary; default: the pinned one from install-tools.sh),
# MIN_COVERAGE (percent, default 95).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POLICY_DIR="$SCRIPT_DIR/../policies"
MIN_COVERAGE="${MIN_COVERAGE:-95}"
ENTRYPOINTS=(countersign/decision/result countersign/authorize/result)
# Builtins that @open-policy-agent/opa-wasm 1.10 provides from JavaScript; everything else a
# module imports would fail at load time. OPA implements most builtins inside the module
# itself; time.*, crypto.*, units.*, http.send, glob.* and print are neither native nor here.
SDK_BUILTINS="json.is_valid regex.split sprintf yaml.is_valid yaml.marshal yaml.unmarshal"

fail() {
  echo "test-policy: FAIL: $*" >&2
  exit 1
}
step() { echo "test-policy: $*"; }

if [ -n "${OPA_BIN:-}" ]; then
  OPA="$OPA_BIN"
else
  # install-tools.sh prints only the bin directory on stdout (it builds on first use).
  OPA="$(bash "$SCRIPT_DIR/install-tools.sh")/opa"
fi
[ -x "$OPA" ] || fail "opa not found or not executable at $OPA (set OPA_BIN)"
command -v node >/dev/null 2>&1 || fail "node is required to check the WASM module's builtins"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cd "$POLICY_DIR"
step "using $("$OPA" version | sed -n 1p) in $(pwd)"

# 1. Formatting: list the files that opa fmt would change.
if ! unformatted="$("$OPA" fmt --list --fail . 2>&1)"; then
  echo "$unformatted" >&2
  fail "not opa-fmt clean (fix with: $OPA fmt -w policies)"
fi
step "fmt ok"

# 2. Parse and compile in strict mode (unused variables/imports, shadowing, ...).
"$OPA" check --strict . || fail "opa check --strict"
step "check --strict ok"

# 3. Unit tests. The summary line (PASS: n/n) is always shown; every test with VERBOSE=1.
if ! "$OPA" test -v . >"$TMP/test.out" 2>&1; then
  cat "$TMP/test.out" >&2
  fail "opa test"
fi
if [ "${VERBOSE:-0}" = "1" ]; then cat "$TMP/test.out"; fi
summary="$(grep -E '^(PASS|FAIL|ERROR|SKIPPED):' "$TMP/test.out" || true)"
[ -n "$summary" ] || fail "opa test printed no summary line"
step "tests: $summary"

# 4. Coverage, parsed with opa itself so the script needs no jq.
"$OPA" test --coverage . >"$TMP/coverage.json" || fail "opa test --coverage"
coverage="$("$OPA" eval --stdin-input -f raw 'input.coverage' <"$TMP/coverage.json")"
step "coverage: $(awk -v c="$coverage" 'BEGIN { printf "%.1f", c }')% (minimum ${MIN_COVERAGE}%)"
if ! awk -v c="$coverage" -v m="$MIN_COVERAGE" 'BEGIN { exit !(c + 0 >= m + 0) }'; then
  "$OPA" eval --stdin-input -f pretty \
    '[concat("", [f, ":", format_int(r.start.row, 10), "-", format_int(r.end.row, 10)]) |
      some f, v in input.files; some r in v.not_covered]' <"$TMP/coverage.json" >&2
  fail "coverage ${coverage}% is below ${MIN_COVERAGE}% (uncovered lines above)"
fi

# 5. Compile to WASM exactly as the policy service loads it.
entry_flags=()
for e in "${ENTRYPOINTS[@]}"; do entry_flags+=(-e "$e"); done
"$OPA" build -t wasm "${entry_flags[@]}" --ignore '*_test.rego' -o "$TMP/bundle.tar.gz" . ||
  fail "opa build -t wasm"
# A listing file, not a pipe: grep -q closing early would fail the pipe under pipefail.
tar -tzf "$TMP/bundle.tar.gz" 2>/dev/null | sed 's|^/||' >"$TMP/listing"
grep -qx 'policy.wasm' "$TMP/listing" || fail "bundle has no /policy.wasm"
grep -qx 'data.json' "$TMP/listing" || fail "bundle has no /data.json"
if grep -q '_test\.rego$' "$TMP/listing"; then fail "bundle contains test files"; fi
# The golden cases (countersign/golden.json) travel in the bundle's data; the policy service
# refuses a bundle without them, and runs them (`pnpm policy build` does too) before a swap.
tar -xzf "$TMP/bundle.tar.gz" -C "$TMP" data.json 2>/dev/null ||
  tar -xzf "$TMP/bundle.tar.gz" -C "$TMP" /data.json 2>/dev/null ||
  fail "cannot extract data.json"
golden="$("$OPA" eval --stdin-input -f raw 'count(object.get(input, ["countersign", "golden_cases"], []))' <"$TMP/data.json")"
[ "$golden" -gt 0 ] || fail "bundle carries no golden cases (data.countersign.golden_cases)"
"$OPA" inspect -f json "$TMP/bundle.tar.gz" >"$TMP/inspect.json" || fail "opa inspect"
have="$("$OPA" eval --stdin-input -f raw \
  'concat(" ", sort([w.entrypoint | some w in input.manifest.wasm]))' <"$TMP/inspect.json")"
want="$(printf '%s\n' "${ENTRYPOINTS[@]}" | LC_ALL=C sort | paste -sd ' ' -)"
[ "$have" = "$want" ] || fail "wasm entrypoints are '$have', expected '$want'"
step "wasm build ok (entrypoints: $have; $golden golden cases)"

# 6. The module must not import a builtin the JavaScript SDK lacks. The module's own
#    builtins() export lists what it expects from the host; read it without the SDK.
tar -xzf "$TMP/bundle.tar.gz" -C "$TMP" policy.wasm 2>/dev/null ||
  tar -xzf "$TMP/bundle.tar.gz" -C "$TMP" /policy.wasm 2>/dev/null ||
  fail "cannot extract policy.wasm"
node - "$TMP/policy.wasm" "$SDK_BUILTINS" <<'JS' || fail "wasm module needs builtins the SDK lacks"
const fs = require("node:fs");
const [wasmPath, sdkList] = process.argv.slice(2);
const memory = new WebAssembly.Memory({ initial: 5 });
const trap = (name) => () => { throw new Error(`${name} called while inspecting`); };
const env = { memory, opa_abort: trap("opa_abort"), opa_println: () => {} };
for (let i = 0; i <= 4; i++) env[`opa_builtin${i}`] = trap(`opa_builtin${i}`);
WebAssembly.instantiate(fs.readFileSync(wasmPath), { env }).then(({ instance }) => {
  const x = instance.exports;
  const ptr = x.opa_json_dump(x.builtins());
  const bytes = new Uint8Array(memory.buffer);
  let end = ptr;
  while (bytes[end] !== 0) end++;
  const needed = Object.keys(JSON.parse(new TextDecoder().decode(bytes.subarray(ptr, end)))).sort();
  const sdk = new Set(sdkList.split(" "));
  const missing = needed.filter((b) => !sdk.has(b));
  console.log(`test-policy: host builtins needed: ${needed.length ? needed.join(", ") : "none"}`);
  if (missing.length) {
    console.error(`test-policy: not provided by @open-policy-agent/opa-wasm: ${missing.join(", ")}`);
    process.exit(1);
  }
});
JS

step "all checks passed"
