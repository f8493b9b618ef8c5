#!/usr/bin/env bash
# Runs Backendify locally (`make run`): builds the binaries and the console, starts a private
# Postgres cluster in $DATA_DIR/pg (unless DATABASE_URL is set), the control plane, two workers and
# the router. Ctrl-C, SIGTERM or a closed terminal stops everything in order (router, workers,
# control plane, Postgres) within 10 s. If this script is killed outright (SIGKILL), the services
# stop by themselves (they watch their parent: BACKENDIFY_PARENT_PID) and a small watchdog stops
# the managed Postgres.
#
# Environment overrides:
#   DATA_DIR          state folder: Postgres cluster, logs, secrets (default ./.data)
#   DATABASE_URL      use this Postgres instead of the managed cluster
#   PG_PORT           port of the managed cluster (default 54329, or a free port when that is taken)
#   JWT_SECRET        admin token secret (default: a random one kept in $DATA_DIR/jwt_secret)
#   CLUSTER_TOKEN     token of the internal gRPC channel (default: random, in $DATA_DIR/cluster_token)
#   SECRETS_KEY       key sealing stored secrets (default: random, in $DATA_DIR/secrets_key)
#   ROUTER_ADDR       public listener (default 127.0.0.1:8000)
#   CONTROL_HTTP_ADDR, CONTROL_GRPC_ADDR, WORKER_1_ADDR, WORKER_2_ADDR
#                     internal listeners (default: free loopback ports)
#   API_CORS_ORIGINS  allowed CORS origins, comma separated (router default when unset)
#   LOG, LOG_FORMAT   tracing filter (default info) and format (text or json) of every binary
#   FILES_DIR         stored files of the local backend (default $DATA_DIR/files); FILES_BACKEND=s3
#                     and the S3_* settings (README) store them in an S3-compatible store instead
#   BIN_DIR           where the binaries are (default $CARGO_TARGET_DIR/release)
#   SKIP_BUILD=1      use the binaries in BIN_DIR as they are (no cargo build; the console is built
#                     only when console/dist is missing)
#   CONSOLE_DIR       serve this folder as the console instead of building console/dist
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[backendify] %s\n' "$*"; }
die() { printf '[backendify] error: %s\n' "$*" >&2; exit 1; }

DATA_DIR="${DATA_DIR:-$ROOT/.data}"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
LOG_DIR="$DATA_DIR/logs"
PG_DIR="$DATA_DIR/pg"
PG_LOG="$DATA_DIR/pg.log"
SKIP_BUILD="${SKIP_BUILD:-0}"
BIN_DIR="${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}"
[[ "$BIN_DIR" = /* ]] || BIN_DIR="$ROOT/$BIN_DIR"
# A path as shown in messages: relative to the checkout when inside it.
show() { printf '%s' "${1#"$ROOT"/}"; }

export ROUTER_ADDR="${ROUTER_ADDR:-127.0.0.1:8000}"

# ---------------------------------------------------------------------------------------------
# Ports: a taken one is named before anything starts; internal ones default to free ports, so
# two runs with their own ROUTER_ADDR and DATA_DIR live side by side.
TAKEN_PORTS=" "
port_in_use() { # host port: something accepts connections there
    local host="$1"
    case "$host" in 0.0.0.0 | "" | "[::]" | "::") host=127.0.0.1 ;; esac
    (exec 3<>"/dev/tcp/$host/$2") 2>/dev/null
}
# Checks an address given by the user (or the default router one): dies naming it when taken.
check_addr() { # label host:port
    local host="${2%:*}" port="${2##*:}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "$1 address '$2' is not host:port"
    if port_in_use "$host" "$port" || [[ "$TAKEN_PORTS" == *" $port "* ]]; then
        die "$1 port $port is in use${3:+ (set $3 to a free one)}"
    fi
    TAKEN_PORTS="$TAKEN_PORTS$port "
}
# Sets variable $1 to a free loopback port not handed out yet.
pick_port() { # var
    local p i
    for ((i = 0; i < 500; i++)); do
        p=$((20000 + RANDOM % 12000))
        [[ "$TAKEN_PORTS" == *" $p "* ]] && continue
        port_in_use 127.0.0.1 "$p" && continue
        TAKEN_PORTS="$TAKEN_PORTS$p "
        printf -v "$1" '%s' "$p"
        return 0
    done
    die "found no free port for $1"
}
# An address from the environment (checked) or a free loopback one.
internal_addr() { # var label
    local given="${!1:-}" port
    if [[ -n "$given" ]]; then
        check_addr "$2" "$given" "$1"
        printf -v "$1" '%s' "$given"
    else
        pick_port port
        printf -v "$1" '127.0.0.1:%s' "$port"
    fi
}

check_addr router "$ROUTER_ADDR" ROUTER_ADDR
internal_addr CONTROL_HTTP_ADDR "control-plane HTTP"
internal_addr CONTROL_GRPC_ADDR "control-plane gRPC"
internal_addr WORKER_1_ADDR worker-1
internal_addr WORKER_2_ADDR worker-2
# Each process serves /metrics on a loopback port of its own.
internal_addr CONTROL_METRICS_ADDR "control-plane metrics"
internal_addr WORKER_1_METRICS_ADDR "worker-1 metrics"
internal_addr WORKER_2_METRICS_ADDR "worker-2 metrics"
internal_addr ROUTER_METRICS_ADDR "router metrics"
# The managed Postgres: PG_PORT as given (checked), else 54329 when free, else a free port. A
# cluster of this DATA_DIR left running keeps its own port (read below).
pg_running() { [[ -f "$PG_DIR/postmaster.pid" ]] && kill -0 "$(head -n 1 "$PG_DIR/postmaster.pid")" 2>/dev/null; }
if [[ -z "${DATABASE_URL:-}" ]] && ! pg_running; then
    if [[ -n "${PG_PORT:-}" ]]; then
        check_addr Postgres "127.0.0.1:$PG_PORT" PG_PORT
    elif port_in_use 127.0.0.1 54329 || [[ "$TAKEN_PORTS" == *" 54329 "* ]]; then
        pick_port PG_PORT
    else
        PG_PORT=54329
        TAKEN_PORTS="${TAKEN_PORTS}54329 "
    fi
fi
CONTROL_HTTP="$CONTROL_HTTP_ADDR"
CONTROL_GRPC="$CONTROL_GRPC_ADDR"
WORKERS=("worker-1=$WORKER_1_ADDR" "worker-2=$WORKER_2_ADDR")
declare -A METRICS=([control-plane]="$CONTROL_METRICS_ADDR" [worker-1]="$WORKER_1_METRICS_ADDR" [worker-2]="$WORKER_2_METRICS_ADDR" [router]="$ROUTER_METRICS_ADDR")

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
# Shutdown: runs once, on exit (normal, error or signal), and ends within 10 s.
PIDS_ROUTER="" PIDS_WORKERS="" PIDS_CONTROL="" PG_STARTED=0 PG_BIN="" WATCHDOG=""
STOPPING=0

# Sends SIGTERM to every given pid, waits up to `seconds` for all, then kills what is left.
stop_pids() { # seconds name=pid ...
    local seconds="$1" entry pid i alive
    shift
    for entry in "$@"; do
        pid="${entry##*=}"
        [[ -n "$pid" ]] || continue
        if kill -0 "$pid" 2>/dev/null; then
            say "stopping ${entry%%=*} (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for ((i = 0; i < seconds * 10; i++)); do
        alive=0
        for entry in "$@"; do
            pid="${entry##*=}"
            [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for entry in "$@"; do
        pid="${entry##*=}"
        [[ -n "$pid" ]] || continue
        if kill -0 "$pid" 2>/dev/null; then
            say "${entry%%=*} did not stop within $seconds s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

cleanup() {
    local status=$?
    (( STOPPING )) && return
    STOPPING=1
    trap '' INT TERM HUP
    [[ -n "${BACKOFF_PID:-}" ]] && kill "$BACKOFF_PID" 2>/dev/null
    # Router first (no new requests), then the workers, then the control plane: 8 s at most.
    [[ -n "$PIDS_ROUTER" ]] && stop_pids 3 "router=$PIDS_ROUTER"
    # shellcheck disable=SC2086 # one name=pid entry per worker
    [[ -n "$PIDS_WORKERS" ]] && stop_pids 3 $PIDS_WORKERS
    [[ -n "$PIDS_CONTROL" ]] && stop_pids 2 "control-plane=$PIDS_CONTROL"
    if (( PG_STARTED )); then
        say "stopping Postgres ($(show "$PG_DIR"))"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m immediate -w -t 5 stop >/dev/null 2>&1 \
            || say "Postgres was already stopped"
    fi
    # The watchdog ignores the terminal's signals; its work is done.
    [[ -n "$WATCHDOG" ]] && { kill -KILL "$WATCHDOG" 2>/dev/null || true; wait "$WATCHDOG" 2>/dev/null || true; }
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
trap on_signal INT TERM HUP

# ---------------------------------------------------------------------------------------------
# 1. System dependencies, binaries, console.
PG_BIN="$("$ROOT/scripts/deps.sh")"
cargo_bin="${CARGO_HOME:-${HOME:-}/.cargo}/bin"
[[ -d "$cargo_bin" ]] && PATH="$cargo_bin:$PATH"

if [[ "$SKIP_BUILD" == 1 ]]; then
    say "using the binaries in $(show "$BIN_DIR") as they are (SKIP_BUILD=1)"
else
    say "building the binaries (cargo build --release --bins)"
    cargo build --release --bins
fi
for bin in control-plane data-plane router; do
    [[ -x "$BIN_DIR/$bin" ]] || die "$BIN_DIR/$bin is missing (build it, or set BIN_DIR)"
done

# Console build: a TypeScript app (console/) built by Vite into console/dist, with hashed assets
# and .gz/.br copies the router serves. Needs Node 20+ and npm; CONSOLE_DIR skips the build.
build_console() { # [if-missing]: only when console/dist has no index.html
    [[ "${1:-}" == if-missing && -f console/dist/index.html ]] && return
    command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20+ to build the console (or set CONSOLE_DIR)"
    # One build at a time: two launchers started together share the checkout.
    exec 9>"$ROOT/console/.build-lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if [[ "${1:-}" == if-missing && -f console/dist/index.html ]]; then
        exec 9>&-
        return
    fi
    say "building the console (npm ci && npm run build in console/)"
    (cd console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error && npm run build --silent) \
        || die "the console build failed"
    exec 9>&-
}
if [[ -n "${CONSOLE_DIR:-}" ]]; then
    :
elif [[ "$SKIP_BUILD" == 1 ]]; then
    # Use the last build if there is one; build it otherwise.
    build_console if-missing
    CONSOLE_DIR="$ROOT/console/dist"
else
    build_console
    CONSOLE_DIR="$ROOT/console/dist"
fi

mkdir -p "$LOG_DIR"

# ---------------------------------------------------------------------------------------------
# 2. Postgres: a private cluster in $DATA_DIR/pg, unless DATABASE_URL points elsewhere.
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
            || die "the cluster in $(show "$PG_DIR") is PostgreSQL $cluster_major but the server found is $server_major; run 'make clean-data' to start afresh"
    else
        say "creating a Postgres $server_major cluster in $(show "$PG_DIR")"
        rm -rf "$PG_DIR"
        mkdir -p "$PG_DIR"
        chmod 700 "$PG_DIR"
        (( IS_ROOT )) && chown postgres:postgres "$PG_DIR"
        as_pg "$PG_BIN/initdb" -D "$PG_DIR" --auth=trust -U postgres --encoding=UTF8 >"$LOG_DIR/initdb.log" 2>&1 \
            || { tail -n 20 "$LOG_DIR/initdb.log" >&2; die "initdb failed (log: $(show "$LOG_DIR")/initdb.log)"; }
    fi
    touch "$PG_LOG"
    if (( IS_ROOT )); then
        [[ "$(stat -c %U "$PG_DIR")" == postgres ]] || chown -R postgres:postgres "$PG_DIR"
        chown postgres:postgres "$PG_LOG"
    fi

    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
        PG_PORT="$(sed -n 4p "$PG_DIR/postmaster.pid")"
        say "Postgres in $(show "$PG_DIR") is already running on port $PG_PORT (left over from an earlier run); using it and leaving it running"
    else
        say "starting Postgres on 127.0.0.1:$PG_PORT (log: $(show "$PG_LOG"))"
        PG_STARTED=1
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_LOG" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$PG_DIR'" start >/dev/null \
            || { tail -n 20 "$PG_LOG" >&2; die "Postgres did not start (log: $(show "$PG_LOG"))"; }
        # Postgres runs detached from this script: should the script be killed outright
        # (SIGKILL), this watchdog stops it. It ignores the terminal's signals; the normal
        # shutdown above ends it.
        LAUNCHER=$$
        (
            trap '' INT TERM HUP
            while kill -0 "$LAUNCHER" 2>/dev/null; do sleep 0.5; done
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m immediate -w -t 5 stop >/dev/null 2>&1 || true
        ) </dev/null >/dev/null 2>&1 &
        WATCHDOG=$!
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
# Exports VAR: its value from the environment, else a random one kept in $DATA_DIR/file (made
# once, readable only by us), so restarts keep tokens and sealed secrets valid.
kept_secret() { # VAR file
    local var="$1" file="$DATA_DIR/$2"
    if [[ -z "${!var:-}" ]]; then
        if [[ ! -s "$file" ]]; then
            (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$file")
        fi
        printf -v "$var" '%s' "$(cat "$file")"
    fi
    export "${var?}"
}
kept_secret JWT_SECRET jwt_secret
kept_secret SECRETS_KEY secrets_key
# The internal gRPC channel's credential: the control plane answers only holders of it.
kept_secret CLUSTER_TOKEN cluster_token
export CONTROL_HTTP_ADDR="$CONTROL_HTTP" CONTROL_GRPC_ADDR="$CONTROL_GRPC"
export CONTROL_PLANE_HTTP_URL="http://$CONTROL_HTTP" CONTROL_PLANE_GRPC_URL="http://$CONTROL_GRPC"
export CONSOLE_DIR
export LOG="${LOG:-info}"
# Outbound calls (SMTP, OAuth providers, later webhooks) may reach loopback only in local runs.
export EGRESS_ALLOW=loopback
# Development mode: app-auth responses carry verification/reset tokens and one-time codes, and
# the trust-the-caller OAuth callback works. Never set it in production.
export BACKENDIFY_DEV="${BACKENDIFY_DEV:-1}"
# Stored files: the local backend in the data folder, unless FILES_BACKEND=s3 (with S3_*) is set.
export FILES_DIR="${FILES_DIR:-$DATA_DIR/files}"

# Starts a binary in the background, in its own session so that a Ctrl-C in the terminal reaches
# only this script, which then stops the services in order. BACKENDIFY_PARENT_PID makes the
# service stop by itself once this script is gone, however it ended. Sets STARTED_PID.
APPEND_LOG=0
start() { # name binary [VAR=value ...]
    local name="$1" bin="$2" log="$LOG_DIR/$1.log"
    shift 2
    if (( APPEND_LOG )) && [[ "${LOG_FORMAT:-text}" == json ]]; then
        :
    elif (( APPEND_LOG )); then
        printf '\n[backendify] --- %s restarted at %s ---\n' "$name" "$(date -u +%FT%TZ)" >>"$log"
    else
        : >"$log"
    fi
    env "$@" BACKENDIFY_PARENT_PID=$$ setsid "$BIN_DIR/$bin" >>"$log" 2>&1 </dev/null &
    STARTED_PID=$!
}

# Waits until `url` answers, or fails with the tail of the service's log.
wait_http() { # name url pid seconds
    local name="$1" url="$2" pid="$3" i
    for ((i = 0; i < $4 * 4; i++)); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LOG_DIR/$name.log" >&2
            die "$name exited during start-up (log: $(show "$LOG_DIR")/$name.log)"
        fi
        sleep 0.25
    done
    tail -n 20 "$LOG_DIR/$name.log" >&2
    die "$name did not answer $url within $4 s (log: $(show "$LOG_DIR")/$name.log)"
}

say "starting the control plane on $CONTROL_HTTP (gRPC $CONTROL_GRPC)"
start control-plane control-plane METRICS_ADDR="${METRICS[control-plane]}"
PIDS_CONTROL=$STARTED_PID
wait_http control-plane "http://$CONTROL_HTTP/health" "$PIDS_CONTROL" 60

for entry in "${WORKERS[@]}"; do
    id="${entry%%=*}" addr="${entry##*=}"
    say "starting $id on $addr"
    start "$id" data-plane WORKER_ADDR="$addr" WORKER_ID="$id" METRICS_ADDR="${METRICS[$id]}"
    PIDS_WORKERS="$PIDS_WORKERS $id=$STARTED_PID"
    wait_http "$id" "http://$addr/health" "$STARTED_PID" 60
done

say "starting the router on $ROUTER_ADDR"
start router router METRICS_ADDR="${METRICS[router]}"
PIDS_ROUTER=$STARTED_PID
wait_http router "$ROUTER_URL/health" "$PIDS_ROUTER" 60

# ---------------------------------------------------------------------------------------------
# 4. Ready.
shown_db="$(printf '%s' "$DATABASE_URL" | sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#')"
cat <<EOF

[backendify] Backendify is running.

  Console              $ROUTER_URL/console/
  Public + admin API   $ROUTER_URL/api/...   (everything goes through the router)
  gRPC admin API       $ROUTER_URL   (HTTP/2, backendify.admin.v1.AdminService, with reflection)
  CLI                  $(show "$BIN_DIR")/backendify --url $ROUTER_URL login --email <you>
  Service info, docs   $ROUTER_URL/   $ROUTER_URL/docs
  Control plane        http://$CONTROL_HTTP  (HTTP)   http://$CONTROL_GRPC  (gRPC ConfigService)
  Workers              $(for e in "${WORKERS[@]}"; do printf 'http://%s (%s)  ' "${e##*=}" "${e%%=*}"; done)
  Metrics              $(for n in control-plane worker-1 worker-2 router; do printf 'http://%s/metrics (%s)  ' "${METRICS[$n]}" "$n"; done)
  Ready                $ROUTER_URL/ready   (each process also answers /health and /ready)
  Postgres             $shown_db
  Stored files         $(if [[ "${FILES_BACKEND:-local}" == s3 ]]; then printf 'S3 bucket %s at %s' "${S3_BUCKET:-backendify}" "${S3_ENDPOINT:-AWS}"; else show "$FILES_DIR"; fi)
  Logs                 $(show "$LOG_DIR")/   (Postgres: $(show "$PG_LOG"))
  Secrets              $(show "$DATA_DIR")/jwt_secret, secrets_key, cluster_token (unless set in the environment)

  Try it:
    curl -s -X POST $ROUTER_URL/api/auth/register \\
      -H 'Content-Type: application/json' \\
      -d '{"email":"admin@example.com","password":"s3cret-pass"}'

[backendify] Press Ctrl-C to stop everything.
EOF

# Stay in the foreground until a signal arrives. A service that dies is started again, and the
# others keep serving meanwhile: after 1 s, doubling up to 30 s while it keeps dying within a
# minute of its start. Its log keeps what it said before (the new run is appended).
declare -A BACKOFF=() STARTED_AT=()
now() { date +%s; }
for name in control-plane worker-1 worker-2 router; do STARTED_AT[$name]=$(now); done
restart_service() { # name
    local name="$1" entry addr
    APPEND_LOG=1
    case "$name" in
        control-plane)
            start control-plane control-plane METRICS_ADDR="${METRICS[control-plane]}"
            PIDS_CONTROL=$STARTED_PID ;;
        router)
            start router router METRICS_ADDR="${METRICS[router]}"
            PIDS_ROUTER=$STARTED_PID ;;
        *)
            for entry in "${WORKERS[@]}"; do [[ "${entry%%=*}" == "$name" ]] && addr="${entry##*=}"; done
            start "$name" data-plane WORKER_ADDR="$addr" WORKER_ID="$name" METRICS_ADDR="${METRICS[$name]}"
            local pids="" e
            for e in $PIDS_WORKERS; do
                if [[ "${e%%=*}" == "$name" ]]; then pids="$pids $name=$STARTED_PID"; else pids="$pids $e"; fi
            done
            PIDS_WORKERS="$pids" ;;
    esac
    APPEND_LOG=0
    STARTED_AT[$name]=$(now)
}
set +e
while :; do
    wait -n
    for entry in "control-plane=$PIDS_CONTROL" $PIDS_WORKERS "router=$PIDS_ROUTER"; do
        name="${entry%%=*}"
        kill -0 "${entry##*=}" 2>/dev/null && continue
        delay="${BACKOFF[$name]:-1}"
        # A run that lasted a minute was healthy: start over from 1 s.
        (( $(now) - ${STARTED_AT[$name]} >= 60 )) && delay=1
        say "$name stopped unexpectedly (log: $(show "$LOG_DIR")/$name.log); restarting it in ${delay}s, the rest keeps serving"
        # In the background and waited for: a signal meanwhile stops everything at once.
        sleep "$delay" &
        BACKOFF_PID=$!
        wait "$BACKOFF_PID"
        BACKOFF_PID=""
        BACKOFF[$name]=$(( delay * 2 > 30 ? 30 : delay * 2 ))
        restart_service "$name"
        say "$name restarted (pid $STARTED_PID)"
    done
done
