# shellcheck shell=bash
# Shared by scripts/test, scripts/demo, scripts/pg and .ci/run: dependencies,
# building, and a private PostgreSQL cluster per checkout. Source it; it only
# defines variables and functions.

BM_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Debian (bookworm) packages the build, the tests and the demo need. One list:
# append with BM_DEB_PACKAGES+=(name) rather than installing elsewhere.
BM_DEB_PACKAGES=(
    build-essential cmake pkg-config git
    clang clang-format clang-tidy cppcheck
    librdkafka-dev libpq-dev libjansson-dev liblua5.4-dev libinih-dev libcmocka-dev
    libcurl4-openssl-dev libmicrohttpd-dev libssl-dev nettle-dev zlib1g-dev libwslay-dev libsystemd-dev
    postgresql postgresql-contrib
    procps psmisc util-linux jq
    nodejs chromium
    mono-mcs mono-runtime libmono-system-net-http4.0-cil libnewtonsoft-json5.0-cil
    libnunit-framework2.6.3-cil
)
# npm comes with some Node.js builds; Debian ships it as its own package.
command -v npm >/dev/null 2>&1 || BM_DEB_PACKAGES+=(npm)

# npm installs the chain tests' packages (scripts/lib/npm.sh); a node built with
# its own npm (not Debian's split packages) needs no second one.
command -v npm >/dev/null 2>&1 || BM_DEB_PACKAGES+=(npm)

# Commands run by the EXIT trap, last registered first (see bm_on_exit).
BM_EXIT_HOOKS=()

bm_log() {
    printf '[%s] %s\n' "${0##*/}" "$*" >&2
}

# Runs a command as root: directly when root, else through sudo when present.
bm__root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        bm_log "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get update, at most once per shell.
bm_apt_update() {
    [[ ${BM_APT_UPDATED:-0} == 1 ]] && return 0
    bm__root env DEBIAN_FRONTEND=noninteractive apt-get update -q || return
    BM_APT_UPDATED=1
}

# Installs whichever of BM_DEB_PACKAGES is missing; does nothing when all are there.
bm_install_deps() {
    local missing=() p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        bm_log "no dpkg-query: not a Debian system, assuming dependencies are installed"
        return 0
    fi
    for p in "${BM_DEB_PACKAGES[@]}"; do
        # shellcheck disable=SC2016
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    bm_log "installing ${missing[*]}"
    bm_apt_update || return
    bm__root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# bm_build [builddir] [extra cmake args...]: configure (RelWithDebInfo unless
# overridden by a later -DCMAKE_BUILD_TYPE) and build with every core.
# BM_BUILD_KEEP_GOING=1 builds every target that can be built before failing.
bm_build() {
    local dir="${1:-$BM_REPO/build}"
    (($# > 0)) && shift
    local keep=()
    cmake -S "$BM_REPO" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" || return
    if [[ ${BM_BUILD_KEEP_GOING:-0} == 1 ]]; then
        if [[ -f "$dir/build.ninja" ]]; then keep=(-- -k 0); else keep=(-- -k); fi
    fi
    cmake --build "$dir" -j "$(nproc)" "${keep[@]}"
}

# ---- private PostgreSQL cluster ---------------------------------------------
#
# One cluster per checkout, under $BM_REPO/var/pg (data/, sock/, log), reached
# only through its unix socket, so two checkouts never meet. PostgreSQL refuses
# to run as root: as root the server runs as the system user `postgres`.

# Finds the server binaries: $BM_PG_BINDIR, pg_config --bindir, else the newest
# /usr/lib/postgresql/*/bin (pg_config may come from libpq-dev without a server).
bm__pg_bindir() {
    local d
    for d in "${BM_PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null)"; do
        [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
    done
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [[ -n "$d" && -x "$d/initdb" ]] && { echo "$d"; return 0; }
    bm_log "no PostgreSQL server binaries found (install postgresql)"
    return 1
}

# Runs a command as the cluster's owner.
bm__pg_as() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u "$BM_PG_USER" -- "$@")
    else
        "$@"
    fi
}

# Sets BM_PG_BINDIR, BM_PG_USER, BM_PG_DIR, BM_PG_DATADIR, BM_PG_SOCKDIR, BM_PG_LOG.
bm__pg_paths() {
    BM_PG_BINDIR=$(bm__pg_bindir) || return
    if [[ $(id -u) -eq 0 ]]; then
        BM_PG_USER=postgres
        if ! id -u "$BM_PG_USER" >/dev/null 2>&1; then
            useradd --system --user-group --home-dir /nonexistent --no-create-home \
                --shell /usr/sbin/nologin "$BM_PG_USER" || return
        fi
    else
        BM_PG_USER=$(id -un)
    fi
    BM_PG_DIR="$BM_REPO/var/pg"
    # A unix socket path has ~107 bytes, and as root the server user must be able
    # to reach the checkout: otherwise use a per-checkout directory under /tmp.
    local tag
    tag=$(printf '%s' "$BM_REPO" | md5sum | cut -c1-12)
    if ((${#BM_PG_DIR} > 80)) ||
        { [[ $(id -u) -eq 0 ]] && ! (cd / && runuser -u "$BM_PG_USER" -- test -x "$BM_REPO"); }; then
        BM_PG_DIR="/tmp/bm-pg-$tag"
    fi
    BM_PG_DATADIR="$BM_PG_DIR/data"
    BM_PG_SOCKDIR="$BM_PG_DIR/sock"
    BM_PG_LOG="$BM_PG_DIR/postgres.log"
    export BM_PG_BINDIR BM_PG_USER BM_PG_DIR BM_PG_DATADIR BM_PG_SOCKDIR BM_PG_LOG
}

bm__pg_running() {
    [[ -f "$BM_PG_DATADIR/postmaster.pid" ]] &&
        bm__pg_as "$BM_PG_BINDIR/pg_ctl" -D "$BM_PG_DATADIR" status >/dev/null 2>&1
}

# Server settings, rewritten on every start so BM_PG_FAST applies each time.
bm__pg_write_conf() {
    local conf="$BM_PG_DATADIR/brightmatter.conf"
    {
        echo "# written by scripts/lib/common.sh on every start"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$BM_PG_SOCKDIR'"
        echo "shared_buffers = 256MB"
        echo "max_connections = 100"
        if [[ ${BM_PG_FAST:-0} == 1 ]]; then
            # Tests kill the engine, never the machine: the server itself only
            # stops through pg_ctl (a shutdown checkpoint) or, at worst, a
            # process crash, and both keep every write() already handed to the
            # kernel. fsync and full-page images only matter for an OS crash.
            # synchronous_commit stays on: with it off a killed server would
            # lose transactions it already acknowledged.
            echo "fsync = off"
            echo "full_page_writes = off"
        fi
    } >"$conf"
    chown "$BM_PG_USER" "$conf" 2>/dev/null || true
    grep -q "^include_if_exists = 'brightmatter.conf'" "$BM_PG_DATADIR/postgresql.conf" ||
        echo "include_if_exists = 'brightmatter.conf'" >>"$BM_PG_DATADIR/postgresql.conf"
}

# initdb once; again only when the data directory is incomplete or from another major version.
bm__pg_init() {
    local major
    major=$("$BM_PG_BINDIR/postgres" --version | sed -nE 's/^[^)]*\) ([0-9]+).*/\1/p')
    if [[ -s "$BM_PG_DATADIR/PG_VERSION" && $(cat "$BM_PG_DATADIR/PG_VERSION") == "$major" ]]; then
        return 0
    fi
    bm_log "initdb $BM_PG_DATADIR (PostgreSQL $major)"
    rm -rf "$BM_PG_DATADIR"
    mkdir -p "$BM_PG_DATADIR" || return
    chown "$BM_PG_USER" "$BM_PG_DATADIR" && chmod 700 "$BM_PG_DATADIR" || return
    bm__pg_as "$BM_PG_BINDIR/initdb" -D "$BM_PG_DATADIR" -A trust -U "$BM_PG_USER" \
        -E UTF8 --no-locale --no-sync >"$BM_PG_DIR/initdb.log" 2>&1 || {
        cat "$BM_PG_DIR/initdb.log" >&2
        return 1
    }
}

# Starts the private cluster (idempotent) and exports BM_POSTGRES_DSN for the
# database `brightmatter`, creating it if missing. BM_PG_FAST=1: no fsync.
bm_pg_start() {
    bm__pg_paths || return
    mkdir -p "$BM_PG_DIR" "$BM_PG_SOCKDIR" || return
    if [[ $(id -u) -eq 0 ]]; then
        chown "$BM_PG_USER" "$BM_PG_DIR" "$BM_PG_SOCKDIR" || return
    fi
    chmod 755 "$BM_PG_DIR" "$BM_PG_SOCKDIR"
    if ! bm__pg_running; then
        bm__pg_init || return
        bm__pg_write_conf || return
        touch "$BM_PG_LOG" && chown "$BM_PG_USER" "$BM_PG_LOG" 2>/dev/null
        if ! bm__pg_as "$BM_PG_BINDIR/pg_ctl" -D "$BM_PG_DATADIR" -l "$BM_PG_LOG" -w -t 60 \
            start >/dev/null; then
            bm_log "PostgreSQL did not start; end of $BM_PG_LOG:"
            tail -n 20 "$BM_PG_LOG" >&2
            return 1
        fi
        BM_PG_STARTED_HERE=1
    fi
    # A server found running may still be starting or recovering after a crash.
    local tries=0
    until "$BM_PG_BINDIR/pg_isready" -q -h "$BM_PG_SOCKDIR" -U "$BM_PG_USER" -d postgres; do
        if ((++tries > 300)); then
            bm_log "PostgreSQL at $BM_PG_SOCKDIR does not accept connections; see $BM_PG_LOG"
            return 1
        fi
        sleep 0.2
    done
    local psql=("$BM_PG_BINDIR/psql" -h "$BM_PG_SOCKDIR" -U "$BM_PG_USER" -qAt -v ON_ERROR_STOP=1)
    if [[ -z $("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'brightmatter'") ]]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE brightmatter" || return
    fi
    export BM_POSTGRES_DSN="host=$BM_PG_SOCKDIR dbname=brightmatter user=$BM_PG_USER"
}

# Stops the private cluster if it runs (fast shutdown: clean, with a checkpoint).
bm_pg_stop() {
    bm__pg_paths || return
    if bm__pg_running; then
        bm__pg_as "$BM_PG_BINDIR/pg_ctl" -D "$BM_PG_DATADIR" -m fast -w -t 60 stop >/dev/null ||
            return
    fi
    BM_PG_STARTED_HERE=0
}

# Restarts the private cluster (fast shutdown), starting it if it was down.
bm_pg_restart() {
    bm__pg_paths || return
    if ! bm__pg_running; then
        bm_pg_start
        return
    fi
    bm__pg_write_conf || return
    bm__pg_as "$BM_PG_BINDIR/pg_ctl" -D "$BM_PG_DATADIR" -l "$BM_PG_LOG" -m fast -w -t 60 \
        restart >/dev/null
}

# bm_on_exit CMD: runs CMD (through eval) when the script exits, newest first.
bm_on_exit() {
    BM_EXIT_HOOKS+=("$*")
}

bm__exit_hooks() {
    local i
    for ((i = ${#BM_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${BM_EXIT_HOOKS[i]}" || true
    done
    BM_EXIT_HOOKS=()
    # A cluster that was already up (a developer's) is left running.
    if [[ ${BM_PG_STARTED_HERE:-0} == 1 && ${BM_PG_KEEP:-0} != 1 ]]; then
        bm_pg_stop || true
    fi
}

# Installs the EXIT trap that runs bm_on_exit hooks and stops a cluster this
# script started (BM_PG_KEEP=1 keeps it). Ctrl-C and TERM exit through it too.
bm_cleanup_on_exit() {
    trap 'bm__exit_hooks' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
