#!/usr/bin/env bash
# Create .venv and install otel-margin with the versions pinned in requirements.lock. Two distributions: the
# app-side SDK (otel-margin, the repository root) and the server (otel-margin-server, backend/), both editable.
#   scripts/bootstrap.sh backend   the server and CLI with the embedded PostgreSQL
#   scripts/bootstrap.sh demo      plus what `otel-margin demo` drives (what `scripts/run.sh` needs)
#   scripts/bootstrap.sh test      every extra of both, plus the test, lint and type-check tools
#   scripts/bootstrap.sh genai-openai  .venv-genai-openai: the SDK with the official successor instrumentation
#                                  (opentelemetry-instrumentation-genai-openai), whose opentelemetry-util-genai
#                                  cannot share .venv with the legacy openai-v2 the main test venv carries
#   scripts/bootstrap.sh node      tests/e2e/node's npm packages (the Vercel AI SDK app of the end-to-end tests),
#                                  `npm ci` from its package-lock.json into ~/.cache/otel-margin/node-e2e/<lock hash>
#                                  (reused while the lock is unchanged) and linked as tests/e2e/node/node_modules
# Package indexes come from the machine's own pip configuration; nothing here names one.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-backend}"

if [ "$mode" = node ]; then
    app=tests/e2e/node
    if ! command -v npm >/dev/null; then
        echo "scripts/bootstrap.sh node needs Node.js 20.16+ and npm (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
    lock_hash="$(cat "$app/package.json" "$app/package-lock.json" "$app/.npmrc" | sha256sum | cut -c1-16)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/otel-margin/node-e2e/$lock_hash"
    if [ ! -f "$cache/node_modules/.package-lock.json" ]; then
        echo "==> npm ci for $app into $cache"
        mkdir -p "$(dirname "$cache")"
        staging="$(mktemp -d "$cache.XXXXXX")"
        cp "$app/package.json" "$app/package-lock.json" "$app/.npmrc" "$staging/"
        # The packages declare Node >= 22 but run on the machine's Node 20 (tested); engine notices are noise.
        (cd "$staging" && npm ci --loglevel=error --no-audit --no-fund)
        rm -rf "$cache"
        mv "$staging" "$cache"  # whole or not at all: an interrupted install is never taken for a finished one
    fi
    if [ -e "$app/node_modules" ] && [ ! -L "$app/node_modules" ]; then
        rm -rf "$app/node_modules"  # a plain npm install's folder: the cached, locked copy replaces it
    fi
    ln -sfn "$cache/node_modules" "$app/node_modules"
    exit 0
fi
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "otel-margin needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
venv=.venv
[ "$mode" = genai-openai ] && venv=.venv-genai-openai
if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "$PYTHON" -m venv "$venv"
fi
# uv installs the locked set in seconds; pip (which reads the machine's config) installs uv itself.
if [ ! -x "$venv/bin/uv" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
# grafana-client (the server's `grafana` extra, part of `test`) pulls urllib3-future, whose wheel installs a .pth
# that overwrites the real urllib3 at every interpreter start; built from source with URLLIB3_NO_OVERRIDE it
# installs beside urllib3 instead.
export URLLIB3_NO_OVERRIDE=1
index="$("$venv/bin/python" -m pip config get global.index-url 2>/dev/null || true)"
if [ -n "$index" ]; then export UV_INDEX_URL="$index"; fi
if [ "$mode" = genai-openai ]; then
    echo "==> installing the SDK with opentelemetry-instrumentation-genai-openai into $venv"
    # The locked versions, less the two that pin the legacy side of the util-genai split.
    constraints="$(mktemp)"
    grep -v -E '^(opentelemetry-util-genai|opentelemetry-instrumentation-openai-v2)==' requirements.lock > "$constraints"
    "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -c "$constraints" \
        -e ".[grpc]" openai opentelemetry-instrumentation-genai-openai==1.3b0 opentelemetry-util-genai==1.3b0 pytest
    rm -f "$constraints"
    exit 0
fi
case "$mode" in
    backend) packages=(-e . -e "./backend[embedded]") ;;
    demo) packages=(-e ".[grpc]" -e "./backend[embedded,demo]") ;;
    test) packages=(-e ".[grpc]" -e "./backend[test]") ;;
    *)
        echo "scripts/bootstrap.sh: unknown mode '$mode'; use backend, demo, test or genai-openai" >&2
        exit 2
        ;;
esac
echo "==> installing ${packages[*]} from requirements.lock"
"$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --no-binary urllib3-future -c requirements.lock \
    "${packages[@]}"
