#!/usr/bin/env bash
# Runs Backendify locally (`make run`): builds the binaries and the console, starts a private
# Postgres cluster in ./.data/pg (unless DATABASE_URL is set), the control plane, two workers and
# the router. Ctrl-C (or SIGTERM) stops everything in order: router, workers, control plane, Postgres.
#
# Environment overrides:
#   DATABASE_URL      use this Postgres instead of the managed cluster
#   PG_PORT           port of the managed cluster (default 54329)
#   JWT_SECRET        admin token secret (default: a random one kept in .data/jwt_secret)
#   SECRETS_KEY       key sealing stored secrets (default: a random one kept in .data/secrets_key)
#   ROUTER_ADDR       public listener (default 127.0.0.1:8000)
#   API_CORS_ORIGINS  allowed CORS origins, comma separated (router default when unset)
#   LOG               tracing filter of every binary (default info)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[backendify] %s\n' "$*"; }
die() { printf '[backendify] error: %s\n' "$*" >&2; exit 1; }

DATA_DIR="$ROOT/.data"
LOG_DIR="$DATA_DIR/logs"
PG_DIR="$DATA_DIR/pg"
PG_LOG="$DATA_DIR/pg.log"
PG_PORT="${PG_PORT:-54329}"
BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
[[ "$BIN_DIR" = /* ]] || BIN_DIR="$ROOT/$BIN_DIR"

CONTROL_HTTP="127.0.0.1:8001"
CONTROL_GRPC="127.0.0.1:8002"
WORKERS=("worker-1=127.0.0.1:8101" "worker-2=127.0.0.1:8102")
export ROUTER_ADDR="${ROUTER_ADDR:-127.0.0.1:8000}"

# The URL to reach a listen address from this machine (0.0.0.0 / [::] become loopback).
local_url() {
    local host="${1%:*}" port="${1##*:}"
    case "$host" in 0.0.0.0 | "" | "[::]") host=127.0.0.1 ;; esac
    printf 'http://%s:%s' "$host" "$port"
}
ROUTER_URL="$(local_url "$ROUTER_ADDR")"

IS_ROOT=0
[[ "$(id -u)" -eq 0 ]] && IS_ROOT=1

# Runs a Postgres server tool: as the `postgres` system user when we are root (Postgres refuses
# to run as root), as ourselves otherwise.
as_pg() {
    if (( IS_ROOT )); then runuser -u postgres -- "$@"; else "$@"; fi
}

# ---------------------------------------------------------------------------------------------
# Shutdown: runs once, on exit (normal, error or signal).
PIDS_ROUTER="" PIDS_WORKERS="" PIDS_CONTROL="" PG_STARTED=0 PG_BIN=""
STOPPING=0

stop_pid() { # name pid
    local name="$1" pid="$2" i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop within 15 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    (( STOPPING )) && return
    STOPPING=1
    trap '' INT TERM
    local entry
    stop_pid router "$PIDS_ROUTER"
    for entry in $PIDS_WORKERS; do stop_pid "${entry%%=*}" "${entry##*=}"; done
    stop_pid control-plane "$PIDS_CONTROL"
    if (( PG_STARTED )); then
        say "stopping Postgres (${PG_DIR#"$ROOT"/})"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w stop >/dev/null 2>&1 \
            || say "Postgres was already stopped"
    fi
    if [[ -n "$PIDS_CONTROL$PIDS_ROUTER$PIDS_WORKERS" ]] || (( PG_STARTED )); then
        say "everything stopped"
    fi
    exit "$status"
}
on_signal() {
    echo
    say "shutting down"
    exit 0
}
trap cleanup EXIT
trap on_signal INT TERM

# ---------------------------------------------------------------------------------------------
# 1. System dependencies, binaries, console.
PG_BIN="$("$ROOT/scripts/deps.sh")"
cargo_bin="${CARGO_HOME:-${HOME:-}/.cargo}/bin"
[[ -d "$cargo_bin" ]] && PATH="$cargo_bin:$PATH"

say "building the binaries (cargo build --release --bins)"
cargo build --release --bins
for bin in control-plane data-plane router; do
    [[ -x "$BIN_DIR/$bin" ]] || die "$BIN_DIR/$bin is missing after the build"
done

# Console build. For now the console is plain static files: copy them as they are. A real build
# step (npm ci && npm run build, writing console/dist) replaces this once the console has one.
say "building the console (console/src -> console/dist)"
rm -rf console/dist
mkdir -p console/dist
cp -R console/src/. console/dist/

mkdir -p "$LOG_DIR"

# ---------------------------------------------------------------------------------------------
# 2. Postgres: a private cluster in .data/pg, unless DATABASE_URL points elsewhere.
if [[ -z "${DATABASE_URL:-}" ]]; then
    PSQL="$PG_BIN/psql"
    [[ -x "$PSQL" ]] || PSQL="$(command -v psql || true)"
    [[ -n "$PSQL" ]] || die "psql not found (install the postgresql-client package)"

    if (( IS_ROOT )); then
        if ! id -u postgres >/dev/null 2>&1; then
            say "creating the 'postgres' system user"
            useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
        fi
        runuser -u postgres -- test -x "$DATA_DIR" \
            || die "the 'postgres' user cannot reach $DATA_DIR; move the checkout to a readable folder or set DATABASE_URL"
    fi

    server_major="$("$PG_BIN/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
    if [[ -f "$PG_DIR/PG_VERSION" ]]; then
        cluster_major="$(cat "$PG_DIR/PG_VERSION")"
        [[ "$cluster_major" == "$server_major" ]] \
            || die "the cluster in .data/pg is PostgreSQL $cluster_major but the server found is $server_major; run 'make clean-data' to start afresh"
    else
        say "creating a Postgres $server_major cluster in .data/pg"
        rm -rf "$PG_DIR"
        mkdir -p "$PG_DIR"
        chmod 700 "$PG_DIR"
        (( IS_ROOT )) && chown postgres:postgres "$PG_DIR"
        as_pg "$PG_BIN/initdb" -D "$PG_DIR" --auth=trust -U postgres --encoding=UTF8 >"$LOG_DIR/initdb.log" 2>&1 \
            || { tail -n 20 "$LOG_DIR/initdb.log" >&2; die "initdb failed (log: .data/logs/initdb.log)"; }
    fi
    touch "$PG_LOG"
    if (( IS_ROOT )); then
        [[ "$(stat -c %U "$PG_DIR")" == postgres ]] || chown -R postgres:postgres "$PG_DIR"
        chown postgres:postgres "$PG_LOG"
    fi

    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
        say "Postgres in .data/pg is already running (left over from an earlier run); using it and leaving it running"
    else
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then
            die "another server already listens on 127.0.0.1:$PG_PORT; set PG_PORT to a free port or DATABASE_URL"
        fi
        say "starting Postgres on 127.0.0.1:$PG_PORT (log: .data/pg.log)"
        PG_STARTED=1
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_LOG" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$PG_DIR'" start >/dev/null \
            || { tail -n 20 "$PG_LOG" >&2; die "Postgres did not start (log: .data/pg.log)"; }
    fi
    for ((i = 0; i < 120; i++)); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 0.25
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "Postgres is not ready on 127.0.0.1:$PG_PORT"

    if [[ "$("$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'backendify'")" != 1 ]]; then
        say "creating database 'backendify'"
        "$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE backendify' >/dev/null
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/backendify"
else
    say "using the external Postgres from DATABASE_URL (no managed cluster)"
fi

# ---------------------------------------------------------------------------------------------
# 3. The services.
if [[ -z "${JWT_SECRET:-}" ]]; then
    if [[ ! -s "$DATA_DIR/jwt_secret" ]]; then
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$DATA_DIR/jwt_secret")
    fi
    JWT_SECRET="$(cat "$DATA_DIR/jwt_secret")"
fi
export JWT_SECRET
if [[ -z "${SECRETS_KEY:-}" ]]; then
    if [[ ! -s "$DATA_DIR/secrets_key" ]]; then
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$DATA_DIR/secrets_key")
    fi
    SECRETS_KEY="$(cat "$DATA_DIR/secrets_key")"
fi
export SECRETS_KEY
export CONTROL_HTTP_ADDR="$CONTROL_HTTP" CONTROL_GRPC_ADDR="$CONTROL_GRPC"
export CONTROL_PLANE_HTTP_URL="http://$CONTROL_HTTP" CONTROL_PLANE_GRPC_URL="http://$CONTROL_GRPC"
export CONSOLE_DIR="$ROOT/console/dist"
export LOG="${LOG:-info}"
# Outbound calls (SMTP, OAuth providers, later webhooks) may reach loopback only in local runs.
export EGRESS_ALLOW=loopback
# Development mode: app-auth responses carry verification/reset tokens and one-time codes, and
# the trust-the-caller OAuth callback works. Never set it in production.
export BACKENDIFY_DEV="${BACKENDIFY_DEV:-1}"

# Starts a binary in the background, in its own session so that a Ctrl-C in the terminal reaches
# only this script, which then stops the services in order. Sets STARTED_PID.
start() { # name binary [VAR=value ...]
    local name="$1" bin="$2"
    shift 2
    env "$@" setsid "$BIN_DIR/$bin" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
    STARTED_PID=$!
}

# Waits until `url` answers, or fails with the tail of the service's log.
wait_http() { # name url pid seconds
    local name="$1" url="$2" pid="$3" i
    for ((i = 0; i < $4 * 4; i++)); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LOG_DIR/$name.log" >&2
            die "$name exited during start-up (log: .data/logs/$name.log)"
        fi
        sleep 0.25
    done
    tail -n 20 "$LOG_DIR/$name.log" >&2
    die "$name did not answer $url within $4 s (log: .data/logs/$name.log)"
}

say "starting the control plane on $CONTROL_HTTP (gRPC $CONTROL_GRPC)"
start control-plane control-plane
PIDS_CONTROL=$STARTED_PID
wait_http control-plane "http://$CONTROL_HTTP/health" "$PIDS_CONTROL" 60

for entry in "${WORKERS[@]}"; do
    id="${entry%%=*}" addr="${entry##*=}"
    say "starting $id on $addr"
    start "$id" data-plane WORKER_ADDR="$addr" WORKER_ID="$id"
    PIDS_WORKERS="$PIDS_WORKERS $id=$STARTED_PID"
    wait_http "$id" "http://$addr/health" "$STARTED_PID" 60
done

say "starting the router on $ROUTER_ADDR"
start router router
PIDS_ROUTER=$STARTED_PID
wait_http router "$ROUTER_URL/health" "$PIDS_ROUTER" 60

# ---------------------------------------------------------------------------------------------
# 4. Ready.
shown_db="$(printf '%s' "$DATABASE_URL" | sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#')"
cat <<EOF

[backendify] Backendify is running.

  Console              $ROUTER_URL/
  Public + admin API   $ROUTER_URL/api/...   (everything goes through the router)
  Control plane        http://$CONTROL_HTTP  (HTTP)   http://$CONTROL_GRPC  (gRPC ConfigService)
  Workers              $(for e in "${WORKERS[@]}"; do printf 'http://%s (%s)  ' "${e##*=}" "${e%%=*}"; done)
  Postgres             $shown_db
  Logs                 ${LOG_DIR#"$ROOT"/}/   (Postgres: ${PG_LOG#"$ROOT"/})

  Try it:
    curl -s -X POST $ROUTER_URL/api/auth/register \\
      -H 'Content-Type: application/json' \\
      -d '{"email":"admin@example.com","password":"s3cret-pass"}'

[backendify] Press Ctrl-C to stop everything.
EOF

# Stay in the foreground until a signal arrives or a service dies.
set +e
while :; do
    wait -n
    for entry in "control-plane=$PIDS_CONTROL" $PIDS_WORKERS "router=$PIDS_ROUTER"; do
        if ! kill -0 "${entry##*=}" 2>/dev/null; then
            set -e
            die "${entry%%=*} stopped unexpectedly (log: .data/logs/${entry%%=*}.log); stopping the rest"
        fi
    done
done
