#!/usr/bin/env bash
# Real PostgreSQL and Redis servers for the test suite, from Debian's packages
# (`postgresql`, `redis-server`), in a directory of the caller's, on ports the
# OS hands out; nothing assumes a server already running or a fixed port.
#
#   tests/services.sh start DIR   start both, print `export` lines on stdout:
#                                 eval "$(tests/services.sh start "$dir")"
#   tests/services.sh stop DIR    stop both by PID (recorded in DIR) and remove
#                                 what start made in DIR; safe to call twice
#
# The exports: LLMO_TEST_PG_URL (a superuser URL, trust auth on 127.0.0.1
# only), LLMO_TEST_REDIS_URL, LLMO_TEST_PG_BIN (initdb/postgres/pg_ctl, for
# tests that start a server of their own) and LLMO_TEST_SERVICES=required
# (a test that finds no server then fails instead of skipping).
#
# PostgreSQL refuses to run as root: as root, initdb and postgres run as the
# `postgres` user (DIR must then be reachable by it: a fresh `mktemp -d` under
# /tmp is). Test settings: fsync off, max_connections 300 (the suite's tests
# run in parallel, each with its own database), the Unix socket in DIR. Redis
# keeps nothing on disk. Progress and errors go to stderr.
set -euo pipefail

die() {
    echo "tests/services.sh: $*" >&2
    exit 1
}

# The newest PostgreSQL under /usr/lib/postgresql (Debian's layout), or
# LLMO_TEST_PG_BIN when set.
pg_bin() {
    if [ -n "${LLMO_TEST_PG_BIN:-}" ]; then
        [ -x "$LLMO_TEST_PG_BIN/postgres" ] || die "LLMO_TEST_PG_BIN=$LLMO_TEST_PG_BIN has no postgres binary"
        echo "$LLMO_TEST_PG_BIN"
        return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] ||
        die "no PostgreSQL server found under /usr/lib/postgresql; hint: apt-get install postgresql"
    echo "$d"
}

# A free TCP port on 127.0.0.1, from the OS (bind to port 0, read it, close).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a command as the `postgres` user when root (PostgreSQL refuses root),
# directly otherwise.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$@"
    else
        "$@"
    fi
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# wait_until SECONDS PID COMMAND...: poll COMMAND every 0.1 s until it
# succeeds (0), the process PID dies (1) or SECONDS pass (2).
wait_until() {
    local limit=$1 pid=$2 i
    shift 2
    for ((i = 0; i < limit * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        alive "$pid" || return 1
        sleep 0.1
    done
    return 2
}

redis_ping() { # redis_ping PORT: PONG over a plain TCP connection
    local reply
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 reply <&3 || reply=
    exec 3>&- 3<&-
    [ "${reply%$'\r'}" = "+PONG" ]
}

start_pg() { # start_pg DIR: prints the port
    local dir=$1 bin port pid attempt rc
    bin=$(pg_bin)
    mkdir -p "$dir/pg"
    if [ "$(id -u)" -eq 0 ]; then
        id -u postgres >/dev/null 2>&1 || die "no 'postgres' user to run PostgreSQL as (it refuses root); hint: apt-get install postgresql"
        chown postgres: "$dir/pg"
        as_pg test -w "$dir/pg" || die "the postgres user cannot write to $dir/pg: use a directory it can reach (e.g. mktemp -d under /tmp)"
    fi
    as_pg "$bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/pg/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$dir/pg/initdb.log")"
    # The port is free when read, but another process may take it before
    # postgres binds it: then postgres exits at once and we try another.
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        as_pg "$bin/postgres" -D "$dir/pg/data" -p "$port" -k "$dir/pg" \
            -c listen_addresses=127.0.0.1 -c max_connections=300 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            >>"$dir/pg/server.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$dir/pg.pid"
        rc=0
        wait_until 60 "$pid" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres || rc=$?
        if [ "$rc" -eq 0 ]; then
            # $! is the subshell around setpriv; the server's own PID is in
            # postmaster.pid (first line).
            head -n1 "$dir/pg/data/postmaster.pid" >"$dir/pg.pid"
            echo "$port"
            return
        fi
        [ "$rc" -eq 1 ] || die "PostgreSQL did not answer within 60 s: $(tail -n 5 "$dir/pg/server.log")"
        echo "tests/services.sh: PostgreSQL on port $port exited (attempt $attempt), retrying" >&2
    done
    die "PostgreSQL did not start: $(tail -n 5 "$dir/pg/server.log")"
}

start_redis() { # start_redis DIR: prints the port
    local dir=$1 port pid attempt rc
    command -v redis-server >/dev/null || die "redis-server not found; hint: apt-get install redis-server"
    mkdir -p "$dir/redis"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir/redis" --daemonize no --logfile "$dir/redis/server.log" \
            </dev/null >/dev/null 2>&1 &
        pid=$!
        echo "$pid" >"$dir/redis.pid"
        rc=0
        wait_until 30 "$pid" redis_ping "$port" || rc=$?
        if [ "$rc" -eq 0 ]; then
            echo "$port"
            return
        fi
        [ "$rc" -eq 1 ] || die "redis-server did not answer within 30 s: $(tail -n 5 "$dir/redis/server.log")"
        echo "tests/services.sh: redis-server on port $port exited (attempt $attempt), retrying" >&2
    done
    die "redis-server did not start: $(tail -n 5 "$dir/redis/server.log")"
}

stop_pid() { # stop_pid FILE SIGNAL: signal the PID in FILE, wait up to 20 s, then SIGKILL
    local file=$1 sig=$2 pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "tests/services.sh: PID $pid ignored SIG$sig for 20 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || die "usage: tests/services.sh start|stop DIR"
case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/pg.pid" ] && [ ! -e "$dir/redis.pid" ] || die "$dir already has servers: tests/services.sh stop $dir first"
    chmod 755 "$dir"
    # A failed start leaves nothing running.
    trap 'stop_pid "$dir/pg.pid" INT; stop_pid "$dir/redis.pid" TERM' ERR
    pg_port=$(start_pg "$dir")
    redis_port=$(start_redis "$dir")
    trap - ERR
    echo "tests/services.sh: PostgreSQL on 127.0.0.1:$pg_port (PID $(cat "$dir/pg.pid")), Redis on 127.0.0.1:$redis_port (PID $(cat "$dir/redis.pid")), in $dir" >&2
    printf 'export LLMO_TEST_PG_URL=%q\n' "postgres://postgres@127.0.0.1:$pg_port/postgres"
    printf 'export LLMO_TEST_REDIS_URL=%q\n' "redis://127.0.0.1:$redis_port"
    printf 'export LLMO_TEST_PG_BIN=%q\n' "$(pg_bin)"
    printf 'export LLMO_TEST_SERVICES=required\n'
    ;;
stop)
    [ -d "$dir" ] || exit 0
    # SIGINT is PostgreSQL's fast shutdown (no waiting for clients).
    stop_pid "$dir/pg.pid" INT
    stop_pid "$dir/redis.pid" TERM
    rm -rf "$dir/pg" "$dir/redis"
    ;;
*) die "usage: tests/services.sh start|stop DIR" ;;
esac
