#!/usr/bin/env bash
# The Python SDK (sdks/python): builds its wheel, installs the wheel (not the source tree, so
# the packaging is tested too) into a venv kept in the cache, and runs pytest against the real
# services, which the tests start themselves. The venv is made again only when the project's
# dependencies change. Writes a JUnit report to .artifacts/pytest.xml for test.sh's summary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh
SDK=sdks/python
ROOT="$(pwd)"

if ! command -v python3 >/dev/null 2>&1; then
  echo "test-python: python3 (>= 3.10) is required and not on PATH" >&2
  exit 1
fi
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "test-python: Python >= 3.10 is required (found $(python3 --version 2>&1))" >&2
  exit 1
fi
# Debian ships venv without ensurepip unless python3-venv is installed.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-python: installing python3-venv" >&2
    (export DEBIAN_FRONTEND=noninteractive && apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2)
  fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "test-python: python3's venv module is missing; as root run: apt-get install -y python3-venv" >&2
    exit 1
  fi
fi

# Test tools, pinned so that a new release cannot change a verdict (ruff's format above all),
# beside the package's own dependencies, which come from the wheel's metadata. joserfc is the
# independent JOSE library the receipt tests verify receipts with.
TEST_DEPS=("hatchling==1.33.0" "pytest==9.2.0" "ruff==0.17.6" "mypy==1.20.2" "joserfc==1.7.5")
PY_VERSION="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
VENV="$CACHE_ROOT/python/venv-$PY_VERSION"
stamp="$VENV/.countersign-stamp"
want="$(cat "$SDK/pyproject.toml" <(printf '%s\n' "${TEST_DEPS[@]}") | sha256sum | cut -d' ' -f1)"

mkdir -p .artifacts/python-dist
rm -f .artifacts/python-dist/*.whl .artifacts/pytest.xml
fresh=0
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "test-python: creating the test venv (Python $PY_VERSION)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${TEST_DEPS[@]}" >&2
  fresh=1
fi
PY="$VENV/bin/python"

echo "test-python: building the wheel" >&2
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  --wheel-dir .artifacts/python-dist "./$SDK" >&2
wheel="$(ls .artifacts/python-dist/countersign-*.whl)"
if [ "$fresh" = "1" ]; then
  # A new venv gets the wheel with its declared dependencies and the langchain extra: what
  # `pip install` of the wheel does for a user.
  "$PY" -m pip install --quiet --disable-pip-version-check "$wheel[langchain]" >&2
  echo "$want" >"$stamp"
else
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel" >&2
fi
"$PY" -m pip check >&2
# The wheel on its own: `pip install` of it into a fresh venv (dependencies from its metadata)
# and an import from outside the source tree, so only the installed wheel can be found.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" >&2
(cd "$scratch" && "$scratch/venv/bin/python" -c 'import countersign; print("test-python: a fresh venv imports countersign", countersign.__version__)')
rm -rf "$scratch"
(cd "$SDK/tests" && "$PY" -c 'import countersign.langchain')

# Lint, format and types, as biome and tsc do for the TypeScript (settings in pyproject.toml).
echo "test-python: ruff and mypy" >&2
(cd "$SDK" && "$PY" -m ruff check --no-cache src tests && "$PY" -m ruff format --no-cache --check src tests >&2)
(cd "$SDK" && "$PY" -m mypy --cache-dir "$VENV/.mypy_cache" src/countersign >&2)

cd "$SDK/tests"
"$PY" -m pytest -p no:cacheprovider -q --junitxml="$ROOT/.artifacts/pytest.xml" .
