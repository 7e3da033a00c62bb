#!/bin/sh
# mysql.sh -- a private MariaDB for the tests, on 127.0.0.1 only.
#
#   sh tests/backends/mysql.sh start   installs mariadb-server when missing
#                                      (root), starts a server with its data
#                                      in a temporary folder, creates user
#                                      testudo (password secret) and
#                                      database testudo_test, prints the URL
#   sh tests/backends/mysql.sh stop    stops it and removes the data
#   sh tests/backends/mysql.sh url     prints the URL of the running server
#   sh tests/backends/mysql.sh pause   stops the server (SIGSTOP); resume
#                                      continues it
#   sh tests/backends/mysql.sh kill    kills it (SIGKILL; InnoDB recovers
#                                      at the next start), keeps the data
#
# With TESTUDO_MYSQL_URL set, start and url print it and do nothing else.
# Both subcommands are idempotent.  Port: TESTUDO_MYSQL_PORT (53306).
set -eu

PORT=${TESTUDO_MYSQL_PORT:-53306}
STATE=${TMPDIR:-/tmp}/testudo-mysql-$PORT
DATA=$STATE/data
SOCK=$STATE/mysqld.sock
PIDF=$STATE/mysqld.pid
LOG=$STATE/server.log
URL="mysql://testudo:secret@127.0.0.1:$PORT/testudo_test"

say() { echo "mysql.sh: $*" >&2; }
die() { say "$*"; exit 1; }

find_bin() {
    SERVER=$(command -v mariadbd || command -v mysqld ||
        { [ -x /usr/sbin/mariadbd ] && echo /usr/sbin/mariadbd; } ||
        { [ -x /usr/sbin/mysqld ] && echo /usr/sbin/mysqld; } || true)
    INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db || true)
    CLIENT=$(command -v mariadb || command -v mysql || true)
    [ -n "$SERVER" ] && [ -n "$INSTALL_DB" ] && [ -n "$CLIENT" ]
}

install_server() {
    find_bin && return 0
    [ "$(id -u)" = 0 ] || die "mariadb-server is not installed (run as root, or: apt-get install mariadb-server)"
    say "installing mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends mariadb-server >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1
          apt-get install -y -q --no-install-recommends mariadb-server >/dev/null; }
    find_bin || die "mariadb-server installed but mariadbd not found"
}

admin() {
    "$CLIENT" --no-defaults --protocol=socket -S "$SOCK" -uroot -N -B "$@"
}

running() {
    [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null
}

start() {
    if [ -n "${TESTUDO_MYSQL_URL:-}" ]; then
        echo "$TESTUDO_MYSQL_URL"
        return 0
    fi
    install_server
    if running && admin -e 'SELECT 1' >/dev/null 2>&1; then
        echo "$URL"
        return 0
    fi
    USER_OPT=
    [ "$(id -u)" = 0 ] && USER_OPT=--user=root
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    if [ ! -d "$DATA/mysql" ]; then
        rm -rf "$DATA"
        "$INSTALL_DB" --no-defaults $USER_OPT --datadir="$DATA" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$STATE/install.log" 2>&1 ||
            { cat "$STATE/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    rm -f "$PIDF" "$SOCK"
    "$SERVER" --no-defaults $USER_OPT --datadir="$DATA" --socket="$SOCK" \
        --pid-file="$PIDF" --port="$PORT" --bind-address=127.0.0.1 \
        --skip-networking=0 --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_bin --innodb-flush-log-at-trx-commit=0 \
        --skip-name-resolve --log-error="$LOG" >/dev/null 2>&1 &
    i=0
    until admin -e 'SELECT 1' >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -ge 120 ]; then
            tail -20 "$LOG" >&2
            die "the server does not answer on $SOCK"
        fi
        sleep 0.5
    done
    admin -e "CREATE DATABASE IF NOT EXISTS testudo_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE USER IF NOT EXISTS 'testudo'@'127.0.0.1' IDENTIFIED BY 'secret';
        CREATE USER IF NOT EXISTS 'testudo'@'localhost' IDENTIFIED BY 'secret';
        GRANT ALL ON testudo_test.* TO 'testudo'@'127.0.0.1';
        GRANT ALL ON testudo_test.* TO 'testudo'@'localhost';
        FLUSH PRIVILEGES;"
    echo "$URL"
}

stop() {
    [ -n "${TESTUDO_MYSQL_URL:-}" ] && return 0
    if running; then
        pid=$(cat "$PIDF")
        find_bin && admin -e 'SHUTDOWN' >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do
            i=$((i + 1))
            sleep 0.5
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$STATE"
}

# crash: kills the server (SIGKILL: nothing flushed, InnoDB recovers at
# the next start); the data stays.
crash() {
    [ -n "${TESTUDO_MYSQL_URL:-}" ] && return 0
    pid=$(cat "$PIDF" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    find_bin
    kill -9 "$pid"
    # a killed process nobody reaps stays a zombie: wait for the socket
    i=0
    while admin -e 'SELECT 1' >/dev/null 2>&1 && [ $i -lt 60 ]; do
        i=$((i + 1))
        sleep 0.5
    done
    rm -f "$PIDF"
}

# signal SIG: sends SIG to the server (pause: SIGSTOP, a server that no
# longer answers; resume: SIGCONT).
signal() {
    pid=$(cat "$PIDF" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill "-$1" "$pid"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
pause) signal STOP ;;
resume) signal CONT ;;
kill) crash ;;
url) if [ -n "${TESTUDO_MYSQL_URL:-}" ]; then echo "$TESTUDO_MYSQL_URL"; else echo "$URL"; fi ;;
*) echo "usage: $0 start|stop|pause|resume|kill|url" >&2; exit 2 ;;
esac
