#!/usr/bin/env bash
# The first command: install otel-margin and run the backend on the embedded default
# (a private PostgreSQL in the user data dir; no Docker, no system database).
# Set OTEL_MARGIN_DATABASE_URL to use your own TimescaleDB or PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh backend
export OTEL_MARGIN_LOG_FORMAT="${OTEL_MARGIN_LOG_FORMAT:-console}"
exec .venv/bin/otel-margin serve "$@"
