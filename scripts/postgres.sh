#!/usr/bin/env bash
# A private PostgreSQL cluster for simslab's catalog server, without systemd.
#
#   scripts/postgres.sh install              install Debian's postgresql if no server binaries exist
#   scripts/postgres.sh bindir               print the directory holding initdb and pg_ctl
#   scripts/postgres.sh start DIR PORT       create (once) and start a cluster in DIR on 127.0.0.1:PORT
#   scripts/postgres.sh stop DIR             stop the cluster in DIR (fast shutdown)
#
# `start` makes a superuser `simslab` and two databases, `simslab` (the catalog) and
# `simslab_tables` (tabular data). TCP connections need the password: it is taken from
# $SIMSLAB_POSTGRES_PASSWORD, else generated once; either way the database URI is written to
# DIR/database-uri (mode 0600), e.g. export SIMSLAB_DATABASE_URI="$(cat DIR/database-uri)".
# The Unix socket lives in DIR/socket, readable by the cluster's owner only.
# SIMSLAB_POSTGRES_THROWAWAY=1 (tests only) skips every fsync: faster, but a crash loses data.
#
# Traps this script handles (design.md): initdb refuses to run as root, so as root the cluster
# belongs to the `postgres` user; postgres must be able to traverse every parent of DIR (a
# root-owned 0700 `mktemp -d` directory is not traversable); apt does not start a cluster here.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$found" && -x "$found/initdb" && -x "$found/pg_ctl" ]]; then
        echo "$found"
    elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
    else
        return 1
    fi
}

install_postgres() {
    if bindir >/dev/null; then
        echo "PostgreSQL server binaries found in $(bindir)"
        return 0
    fi
    command -v apt-get >/dev/null || die "no PostgreSQL server binaries and no apt-get: install PostgreSQL by hand"
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "installing PostgreSQL needs root (or sudo)"
        sudo="sudo"
    fi
    echo "installing Debian's postgresql package"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bindir >/dev/null || die "postgresql installed but initdb/pg_ctl not found under /usr/lib/postgresql"
    echo "PostgreSQL server binaries installed in $(bindir)"
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        local quoted
        printf -v quoted '%q ' "$@"
        su postgres -s /bin/sh -c "$quoted"
    else
        "$@"
    fi
}

start_cluster() {
    local dir=$1 port=$2
    [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1024 && "$port" -le 65535 ]] || die "PORT must be 1024-65535, got '$port'"
    local bin
    bin=$(bindir) || die "no PostgreSQL server binaries: run '$0 install' first"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local data=$dir/data socket=$dir/socket log=$dir/postgres.log
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user: install Debian's postgresql package ('$0 install')"
        chown postgres: "$dir"
        as_owner test -x "$dir" -a -w "$dir" || die "the postgres user cannot reach $dir: every parent directory must be traversable by others (o+x); a root-owned 0700 directory (mktemp -d) is not"
    fi
    as_owner mkdir -p "$socket"
    as_owner chmod 0700 "$socket"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        local password=${SIMSLAB_POSTGRES_PASSWORD:-}
        if [[ -z "$password" ]]; then
            password=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        fi
        [[ "$password" =~ ^[A-Za-z0-9]+$ ]] || die "SIMSLAB_POSTGRES_PASSWORD must be alphanumeric (it goes into a URI)"
        local pwfile
        pwfile=$(as_owner mktemp)
        printf '%s\n' "$password" | as_owner tee "$pwfile" >/dev/null
        local nosync=()
        [[ "${SIMSLAB_POSTGRES_THROWAWAY:-}" == 1 ]] && nosync=(--no-sync)
        as_owner "$bin/initdb" -D "$data" -U simslab --pwfile="$pwfile" --auth-local=trust \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 "${nosync[@]}" >"$dir/initdb.log" 2>&1 \
            || { as_owner rm -f "$pwfile"; die "initdb failed, see $dir/initdb.log"; }
        as_owner rm -f "$pwfile"
        (umask 077; printf 'postgresql://simslab:%s@127.0.0.1:%s/simslab\n' "$password" "$port" >"$dir/database-uri")
        echo "$port" >"$dir/port"
    fi
    if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        echo "PostgreSQL already running in $data"
        return 0
    fi
    local options="-c listen_addresses=127.0.0.1 -p $port -k $socket"
    [[ "${SIMSLAB_POSTGRES_THROWAWAY:-}" == 1 ]] && options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "$options" start >/dev/null \
        || die "pg_ctl start failed, see $log"
    local name
    for name in simslab simslab_tables; do
        if ! as_owner "$bin/psql" -h "$socket" -p "$port" -U simslab -d postgres -tAc \
                "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
            as_owner "$bin/createdb" -h "$socket" -p "$port" -U simslab "$name"
        fi
    done
    echo "PostgreSQL listening on 127.0.0.1:$port (data in $data, URI in $dir/database-uri)"
}

stop_cluster() {
    local dir=$1
    local bin
    bin=$(bindir) || die "no PostgreSQL server binaries"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        die "no cluster in $dir"
    fi
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
        echo "PostgreSQL in $dir stopped"
    else
        echo "PostgreSQL in $dir was not running"
    fi
}

case "${1:-}" in
    install) install_postgres ;;
    bindir) bindir || die "no PostgreSQL server binaries found" ;;
    start) [[ $# -eq 3 ]] || die "usage: $0 start DIR PORT"; start_cluster "$2" "$3" ;;
    stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop_cluster "$2" ;;
    *) die "usage: $0 install | bindir | start DIR PORT | stop DIR" ;;
esac
