#!/usr/bin/env bash
# Install what the test suite needs on a Debian 12 machine with PostgreSQL 15:
#   * build dependencies: postgresql-server-dev-15, cmake, libssl-dev
#   * TimescaleDB (Apache-only edition), built from Debian trixie's `timescaledb` source package
#     against PostgreSQL 15 (bookworm has no timescaledb package).
# bookworm has no timescaledb package for PostgreSQL 15, so the recipe below builds it, step by step.
#
# Idempotent and cached: a second run only checks the installed files and exits within seconds;
# the built tree stays in the cache so a reinstall is just `make -C build install`.
#
# Environment:
#   OTEL_MARGIN_CACHE_DIR   cache root (default: $HOME/.cache/otel-margin)
set -euo pipefail

# Upstream version that trixie's source package ships (checked: 2.19.3+dfsg-1+deb13u1). Bump together with trixie.
TSDB_VERSION="2.19.3"
PG_MAJOR="15"
DEBIAN_SUITE="trixie"

PG_BINDIR="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_LIBDIR="/usr/lib/postgresql/${PG_MAJOR}/lib"
PG_EXTDIR="/usr/share/postgresql/${PG_MAJOR}/extension"
CACHE_DIR="${OTEL_MARGIN_CACHE_DIR:-$HOME/.cache/otel-margin}/timescaledb"
SRC_DIR="${CACHE_DIR}/timescaledb-${TSDB_VERSION}"
LOG="${CACHE_DIR}/build.log"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/private-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

on_error() {
    local rc=$?
    {
        printf '\nerror: install-test-deps.sh failed (exit %s) at line %s.\n' "$rc" "${BASH_LINENO[0]}"
        if [[ -s "$LOG" ]]; then
            printf -- '--- last lines of %s ---\n' "$LOG"
            tail -n 25 "$LOG"
            printf -- '---\n'
        fi
        printf 'Check: network access to the Debian mirror in /etc/apt/sources.list.d/debian.sources,\n'
        printf '       that %s still ships timescaledb %s (else bump TSDB_VERSION),\n' "$DEBIAN_SUITE" "$TSDB_VERSION"
        printf '       free disk space in %s, and that you run as root (or have sudo).\n' "$CACHE_DIR"
        printf '       Remove %s to start from scratch.\n' "$CACHE_DIR"
    } >&2
}
trap on_error ERR

installed() {
    # The versioned .so alone is not enough: the loader (what shared_preload_libraries loads), the install
    # script and a control file pointing at the same version must all be there.
    [[ -f "${PG_LIBDIR}/timescaledb-${TSDB_VERSION}.so" && -f "${PG_LIBDIR}/timescaledb.so" ]] \
        && [[ -f "${PG_EXTDIR}/timescaledb--${TSDB_VERSION}.sql" ]] \
        && grep -qs "default_version = '${TSDB_VERSION}'" "${PG_EXTDIR}/timescaledb.control"
}

if installed; then
    echo "timescaledb ${TSDB_VERSION} already installed for PostgreSQL ${PG_MAJOR}; nothing to do."
    exit 0
fi

# apt and `make install` write to system paths.
SUDO=""
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || die "run as root (installs packages and writes to ${PG_LIBDIR})"
    SUDO="sudo"
fi

# Only one install at a time per cache (e.g. parallel CI jobs sharing a home directory).
mkdir -p "$CACHE_DIR"
exec 9>"${CACHE_DIR}/.lock"
flock 9
: >"$LOG"
if installed; then  # another run finished while we waited for the lock
    echo "timescaledb ${TSDB_VERSION} already installed for PostgreSQL ${PG_MAJOR}; nothing to do."
    exit 0
fi

# --- 1. build dependencies from the machine's own apt sources --------------------------------------------
# Output goes through a variable, not a pipe: with pipefail, `grep -q` exiting early SIGPIPEs the producer.
pkg_installed() {
    local status
    status=$(dpkg -s "$1" 2>/dev/null) || return 1
    [[ $status == *$'\nStatus: install ok installed'* || $status == 'Status: install ok installed'* ]]
}

wanted=("postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" cmake libssl-dev)
command -v cc >/dev/null && command -v make >/dev/null || wanted+=(build-essential)
command -v xz >/dev/null || wanted+=(xz-utils)
missing=()
for p in "${wanted[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
    # `apt-get update` only when the package lists lack a candidate (fresh image without lists).
    needs_update=0
    for p in "${missing[@]}"; do
        policy=$(apt-cache policy "$p" 2>/dev/null || true)
        [[ $policy =~ Candidate:\ [^\(] ]] || needs_update=1
    done
    if ((needs_update)); then
        say "apt-get update"
        $SUDO apt-get update -qq >>"$LOG" 2>&1
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y -qq "${missing[@]}" >>"$LOG" 2>&1; then
        # Stale lists (a superseded version 404s): refresh once and retry.
        say "install failed, refreshing package lists and retrying"
        $SUDO apt-get update -qq >>"$LOG" 2>&1
        $SUDO apt-get install -y -qq "${missing[@]}" >>"$LOG" 2>&1
    fi
fi
[[ -x "${PG_BINDIR}/pg_config" ]] || die "${PG_BINDIR}/pg_config not found after installing postgresql-server-dev-${PG_MAJOR}"

# --- 2. TimescaleDB source from Debian trixie, via a private apt config ------------------------------------
if [[ ! -f "${SRC_DIR}/CMakeLists.txt" ]]; then
    if ! compgen -G "${CACHE_DIR}/timescaledb_${TSDB_VERSION}*.orig.tar.*" >/dev/null; then
        private_apt deb-src "$CACHE_DIR" "$DEBIAN_SUITE"
        say "fetching the timescaledb source package from ${DEBIAN_SUITE} (${mirror})"
        apt-get "${apt_opts[@]}" update -qq >>"$LOG" 2>&1
        (cd "$CACHE_DIR" && apt-get "${apt_opts[@]}" source --download-only timescaledb) >>"$LOG" 2>&1
        compgen -G "${CACHE_DIR}/timescaledb_${TSDB_VERSION}*.orig.tar.*" >/dev/null || {
            found=$(cd "$CACHE_DIR" && echo timescaledb_*.orig.tar.*)
            die "${DEBIAN_SUITE} ships ${found}, expected timescaledb ${TSDB_VERSION}; update TSDB_VERSION"
        }
    fi
    say "unpacking timescaledb ${TSDB_VERSION}"
    tarballs=("${CACHE_DIR}/timescaledb_${TSDB_VERSION}"*.orig.tar.*)
    tarball="${tarballs[0]}"
    tmp_src="${SRC_DIR}.partial"
    rm -rf "$tmp_src" && mkdir -p "$tmp_src"
    tar -xf "$tarball" -C "$tmp_src" --strip-components=1
    mv "$tmp_src" "$SRC_DIR"  # only a fully unpacked tree gets the final name
fi

# --- 3. build (once) and install ---------------------------------------------------------------------------
cd "$SRC_DIR"
if [[ ! -f build/.built ]]; then
    say "building timescaledb ${TSDB_VERSION} (Apache-only) against PostgreSQL ${PG_MAJOR}, -j$(nproc)"
    # bootstrap prompts interactively if build/ exists, so start clean after a failed attempt.
    rm -rf build
    ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
        -DPG_CONFIG="${PG_BINDIR}/pg_config" >>"$LOG" 2>&1
    make -C build -j"$(nproc)" >>"$LOG" 2>&1
    touch build/.built
fi
say "installing into ${PG_LIBDIR} and ${PG_EXTDIR}"
$SUDO make -C build -j"$(nproc)" install >>"$LOG" 2>&1

installed || die "install finished but ${PG_LIBDIR}/timescaledb-${TSDB_VERSION}.so or its control file is missing"
say "timescaledb ${TSDB_VERSION} installed; load it with shared_preload_libraries=timescaledb (built tree: ${SRC_DIR})"
