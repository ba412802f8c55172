#!/usr/bin/env bash
# Install Docker Compose v2 (the CLI plugin) from Debian trixie's `docker-compose` package on a Debian 12
# machine, so the tests can validate docker-compose.yml with `docker-compose config` (no Docker engine needed).
# Trixie's package installs on bookworm: it only needs libc6 >= 2.34.
#
# Like install-test-deps.sh: the package comes from the machine's own Debian mirror (read from its apt config,
# never written into this repo) through a private apt config, so the system's sources and lists stay untouched.
# Idempotent and cached: a second run checks the installed binary and exits within a second; the downloaded
# .deb stays in the cache, so a reinstall needs no network.
#
# Installs: /usr/libexec/docker/cli-plugins/docker-compose (and /usr/bin/docker-compose).
#
# Environment:
#   OTEL_MARGIN_CACHE_DIR   cache root (default: $HOME/.cache/otel-margin)
set -euo pipefail

# What trixie ships (checked: 2.26.1-4). Bump together with trixie.
COMPOSE_VERSION="2.26.1"
DEBIAN_SUITE="trixie"
PLUGIN="/usr/libexec/docker/cli-plugins/docker-compose"
CACHE_DIR="${OTEL_MARGIN_CACHE_DIR:-$HOME/.cache/otel-margin}/docker-compose"
LOG="${CACHE_DIR}/install.log"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/private-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

on_error() {
    local rc=$?
    {
        printf '\nerror: install-compose.sh failed (exit %s) at line %s.\n' "$rc" "${BASH_LINENO[0]}"
        if [[ -s "$LOG" ]]; then
            printf -- '--- last lines of %s ---\n' "$LOG"
            tail -n 25 "$LOG"
            printf -- '---\n'
        fi
        printf 'Check: network access to the Debian mirror in /etc/apt/sources.list.d/debian.sources,\n'
        printf '       that %s still ships docker-compose %s (else bump COMPOSE_VERSION),\n' "$DEBIAN_SUITE" "$COMPOSE_VERSION"
        printf '       and that you run as root (or have sudo). Remove %s to start from scratch.\n' "$CACHE_DIR"
    } >&2
}
trap on_error ERR

installed() {
    [[ -x "$PLUGIN" ]] || return 1
    local out
    out=$("$PLUGIN" version --short 2>/dev/null) || return 1
    [[ $out == "${COMPOSE_VERSION}"* ]]
}

if installed; then
    echo "docker-compose ${COMPOSE_VERSION} already installed at ${PLUGIN}; nothing to do."
    exit 0
fi

SUDO=""
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || die "run as root (installs a Debian package)"
    SUDO="sudo"
fi

mkdir -p "$CACHE_DIR"
exec 9>"${CACHE_DIR}/.lock"
flock 9
: >"$LOG"
if installed; then  # another run finished while we waited for the lock
    echo "docker-compose ${COMPOSE_VERSION} already installed at ${PLUGIN}; nothing to do."
    exit 0
fi

debs=("${CACHE_DIR}/docker-compose_${COMPOSE_VERSION}"*_amd64.deb)
if [[ ! -f "${debs[0]}" ]]; then
    [[ "$(dpkg --print-architecture)" == amd64 ]] || die "only amd64 is handled here (found $(dpkg --print-architecture))"
    private_apt deb "$CACHE_DIR" "$DEBIAN_SUITE"
    say "fetching docker-compose from ${DEBIAN_SUITE} (${mirror})"
    apt-get "${apt_opts[@]}" update -qq >>"$LOG" 2>&1
    (cd "$CACHE_DIR" && apt-get "${apt_opts[@]}" download docker-compose) >>"$LOG" 2>&1
    debs=("${CACHE_DIR}/docker-compose_${COMPOSE_VERSION}"*_amd64.deb)
    [[ -f "${debs[0]}" ]] || {
        found=$(cd "$CACHE_DIR" && echo docker-compose_*.deb)
        die "${DEBIAN_SUITE} ships ${found}, expected docker-compose ${COMPOSE_VERSION}; update COMPOSE_VERSION"
    }
fi

# The system's apt resolves the package's dependencies (libc6) from the machine's own sources.
say "installing $(basename "${debs[0]}")"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends "${debs[0]}" >>"$LOG" 2>&1

installed || die "installed the package but ${PLUGIN} does not report version ${COMPOSE_VERSION}"
say "docker-compose $("$PLUGIN" version --short) installed at ${PLUGIN}"
