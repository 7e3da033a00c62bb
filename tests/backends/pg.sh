#!/bin/sh
# pg.sh -- a private PostgreSQL for the tests, on 127.0.0.1 only.
#
#   sh tests/backends/pg.sh start   installs postgresql when missing (root),
#                                   starts a server with its data in a
#                                   temporary folder, creates user testudo
#                                   (password secret) and database
#                                   testudo_test, prints the URL to use
#   sh tests/backends/pg.sh stop    stops it and removes the data
#   sh tests/backends/pg.sh url     prints the URL of the running server
#   sh tests/backends/pg.sh pause   stops every process of the server
#                                   (SIGSTOP: a server that no longer
#                                   answers); resume continues them
#   sh tests/backends/pg.sh kill    crashes it (immediate shutdown: no
#                                   checkpoint, crash recovery at the next
#                                   start) and keeps the data
#
# With TESTUDO_PG_URL set, start and url print it and do nothing else.
# Both subcommands are idempotent.  Port: TESTUDO_PG_PORT (55432).
set -eu

PORT=${TESTUDO_PG_PORT:-55432}
STATE=${TMPDIR:-/tmp}/testudo-pg-$PORT
DATA=$STATE/data
LOG=$STATE/server.log
URL="postgres://testudo:secret@127.0.0.1:$PORT/testudo_test"

say() { echo "pg.sh: $*" >&2; }
die() { say "$*"; exit 1; }

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && PGBIN=$d
    done
    [ -n "${PGBIN:-}" ] || PGBIN=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")
    [ -x "$PGBIN/pg_ctl" ]
}

install_server() {
    find_bin && return 0
    [ "$(id -u)" = 0 ] || die "postgresql is not installed (run as root, or: apt-get install postgresql)"
    say "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1; apt-get install -y -q postgresql >/dev/null; }
    find_bin || die "postgresql installed but pg_ctl not found"
}

# Runs a command as the server's owner (postgres when we are root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [ -f "$DATA/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_admin() {
    as_owner "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -qAtX "$@"
}

start() {
    if [ -n "${TESTUDO_PG_URL:-}" ]; then
        echo "$TESTUDO_PG_URL"
        return 0
    fi
    install_server
    if running; then
        echo "$URL"
        return 0
    fi
    mkdir -p "$STATE"
    [ "$(id -u)" = 0 ] && chown postgres "$STATE"
    chmod 700 "$STATE"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        rm -rf "$DATA"
        as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C >"$STATE/initdb.log" 2>&1 ||
            { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $PORT"
            echo "unix_socket_directories = '$STATE'"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        } >>"$DATA/postgresql.conf"
        # password auth for the test user over TCP, trust for the admin
        cat >"$DATA/pg_hba.conf" <<HBA
local all postgres trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
HBA
        [ "$(id -u)" = 0 ] && chown postgres "$DATA/pg_hba.conf"
    fi
    rm -f "$DATA/postmaster.pid"
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null ||
        { tail -20 "$LOG" >&2; die "the server did not start"; }
    i=0
    until psql_admin -c 'SELECT 1' >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 60 ] || die "the server does not answer on 127.0.0.1:$PORT"
        sleep 0.5
    done
    if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='testudo'")" != 1 ]; then
        psql_admin -c "CREATE ROLE testudo LOGIN PASSWORD 'secret'"
    fi
    if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='testudo_test'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE testudo_test OWNER testudo"
    fi
    echo "$URL"
}

stop() {
    [ -n "${TESTUDO_PG_URL:-}" ] && return 0
    if find_bin && [ -f "$DATA/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE"
}

# crash: stops the server as a crash would (every process quits at once,
# nothing flushed); the data stays, and the next start recovers it.
crash() {
    [ -n "${TESTUDO_PG_URL:-}" ] && return 0
    find_bin && [ -f "$DATA/postmaster.pid" ] || return 1
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t 60 stop >/dev/null
}

# signal SIG: sends SIG to the postmaster and its children.
signal() {
    pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    pkill "-$1" -P "$pid" 2>/dev/null || true
    kill "-$1" "$pid"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
pause) signal STOP ;;
resume) signal CONT ;;
kill) crash ;;
url) if [ -n "${TESTUDO_PG_URL:-}" ]; then echo "$TESTUDO_PG_URL"; else echo "$URL"; fi ;;
*) echo "usage: $0 start|stop|pause|resume|kill|url" >&2; exit 2 ;;
esac
