#!/usr/bin/env bash
# The first command: install the server (with the embedded PostgreSQL and what the demo drives) and run the
# demo on the embedded default (a private PostgreSQL in the user data dir; no Docker, no system database). The
# demo sends a month of a sample app's AI calls through the real pipeline, prints the per-customer P&L, budget
# alerts and cheaper-model suggestions, and leaves the backend serving (Ctrl-C stops it). Set
# OTEL_MARGIN_DATABASE_URL to use your own TimescaleDB or PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh demo
export OTEL_MARGIN_LOG_FORMAT="${OTEL_MARGIN_LOG_FORMAT:-console}"
export OTEL_MARGIN_LOG_LEVEL="${OTEL_MARGIN_LOG_LEVEL:-WARNING}"
exec .venv/bin/otel-margin demo "$@"
