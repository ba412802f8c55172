#!/usr/bin/env bash
# Create .venv and install otel-margin with the versions pinned in requirements.lock.
#   scripts/bootstrap.sh backend   the service and CLI (what `scripts/run.sh` needs)
#   scripts/bootstrap.sh test      plus the test, lint and type-check tools
# Package indexes come from the machine's own pip configuration; nothing here names one.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-backend}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "otel-margin needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
# uv installs the locked set in seconds; pip (which reads the machine's config) installs uv itself.
if [ ! -x .venv/bin/uv ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
fi
index="$(.venv/bin/python -m pip config get global.index-url 2>/dev/null || true)"
if [ -n "$index" ]; then export UV_INDEX_URL="$index"; fi
echo "==> installing otel-margin[$extra] from requirements.lock"
.venv/bin/uv pip install --quiet --python .venv/bin/python -c requirements.lock -e ".[$extra]"
