#!/usr/bin/env bash
# The test command: install what the tests need (TimescaleDB, locked Python deps), then check formatting,
# lint, types and the layer contract (.importlinter), and run the test suite against real TimescaleDB and
# PostgreSQL.
# Extra arguments go to pytest, e.g. scripts/test.sh -k writer
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
bash scripts/install-compose.sh
bash scripts/bootstrap.sh test
bash scripts/bootstrap.sh genai-openai
bash scripts/bootstrap.sh node

echo "==> ruff"
.venv/bin/ruff format --check .
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> lint-imports"
.venv/bin/lint-imports
echo "==> pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    # pytest's "no tests collected" (e.g. a -k that matches nothing) is not a failure of the code.
    echo "pytest collected no tests" >&2
    status=0
fi
exit "$status"
