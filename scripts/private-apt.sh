# Sourced by the install scripts: an apt configuration of their own for one Debian suite (e.g. trixie), so
# they can fetch a package of a newer release without touching the system's apt sources or state.
#
#   private_apt deb|deb-src CACHE_DIR SUITE
#
# sets `mirror` (read from this machine's own apt config: never a host written here) and `apt_opts` (the -o
# options to pass to apt-get). The caller defines `die`.

private_apt() {
    local kind="$1" cache="$2" suite="$3"
    mirror=""
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    elif [[ -f /etc/apt/sources.list ]]; then
        mirror=$(awk '/^deb(-src)?[ \t]/ { sub(/\[[^]]*\][ \t]*/, ""); if ($2 !~ /security/) { print $2; exit } }' \
            /etc/apt/sources.list)
    fi
    [[ -n "$mirror" ]] || die "could not read a Debian mirror from /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"

    # Own sources.list, lists and cache dirs: the system's apt state is never touched.
    mkdir -p "${cache}/apt/lists/partial" "${cache}/apt/cache/archives/partial"
    echo "${kind} [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${suite} main" \
        >"${cache}/apt/sources.list"
    apt_opts=(
        -o "Dir::Etc::sourcelist=${cache}/apt/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=${cache}/apt/lists"
        -o "Dir::Cache=${cache}/apt/cache"
    )
    # As root, apt downloads as _apt, which cannot enter /root/.cache; it would fall back to root anyway (with a
    # warning), so say so up front. Signatures are verified either way.
    if [[ $EUID -eq 0 ]]; then apt_opts+=(-o "APT::Sandbox::User=root"); fi
}
