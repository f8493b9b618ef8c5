#!/usr/bin/env bash
# Makes sure the system tools that `make run` and `make test` need are present:
# cargo, the PostgreSQL server binaries (initdb, pg_ctl, postgres), redis-server (the rate
# limiter's Redis tests start their own one) and s3s-fs (the S3-compatible server of the file
# storage tests).
# Idempotent and quick when everything is there. Messages go to stderr; stdout carries only the
# PostgreSQL bin folder that was found, so callers can do: PG_BIN="$(scripts/deps.sh)".
set -euo pipefail

say() { printf '[backendify] %s\n' "$*" >&2; }

# Newest /usr/lib/postgresql/<version>/bin that holds initdb, or nothing.
find_pg_bin() {
    local d best="" best_ver=-1 ver
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" ]] || continue
        ver="${d#/usr/lib/postgresql/}"
        ver="${ver%%/*}"
        ver="${ver%%.*}"
        [[ "$ver" =~ ^[0-9]+$ ]] || continue
        if (( ver > best_ver )); then
            best_ver=$ver
            best=$d
        fi
    done
    if [[ -n "$best" ]]; then
        printf '%s\n' "$best"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    fi
}

# --- cargo -----------------------------------------------------------------
cargo_bin="${CARGO_HOME:-${HOME:-}/.cargo}/bin"
[[ -d "$cargo_bin" ]] && PATH="$cargo_bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found. Install the Rust toolchain with:"
    say "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y"
    say "then open a new shell (or run: source \"\$HOME/.cargo/env\") and try again."
    exit 1
fi

# --- PostgreSQL server binaries ---------------------------------------------
pg_bin="$(find_pg_bin)"
if [[ -z "$pg_bin" ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "PostgreSQL server not found; installing it with apt-get (package: postgresql)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
        pg_bin="$(find_pg_bin)"
    fi
    if [[ -z "$pg_bin" ]]; then
        say "PostgreSQL server binaries (initdb) not found. Install them with:"
        say "  sudo apt-get update && sudo apt-get install -y postgresql"
        exit 1
    fi
fi

# --- chromium ------------------------------------------------------------------
# The console's browser tests (scripts/test-console.sh) drive Debian's chromium through Playwright;
# Playwright's own browser download cannot be used. Needed by `make test` only, so a failure to
# install it is reported and left to the console tests, which name it again.
if [[ -z "${CHROMIUM_PATH:-}" ]] && ! [[ -x /usr/bin/chromium ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "chromium not found; installing it with apt-get (package: chromium)"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
            || say "apt-get install chromium failed; the console's browser tests need it"
    else
        say "chromium not found (the console's browser tests need it). Install it with:"
        say "  sudo apt-get update && sudo apt-get install -y chromium"
    fi
fi

# --- redis-server ------------------------------------------------------------
# Only the binary is used: tests start their own redis-server on a free port in a temporary folder,
# without a config file. The Debian package's own service is never used, so it is kept from starting
# while the package installs (a policy-rc.d that refuses, unless one is already there).
find_redis_server() {
    if command -v redis-server >/dev/null 2>&1; then
        command -v redis-server
    elif [[ -x /usr/bin/redis-server ]]; then
        printf '%s\n' /usr/bin/redis-server
    fi
}

if [[ -z "$(find_redis_server)" ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "redis-server not found; installing it with apt-get (package: redis-server)"
        export DEBIAN_FRONTEND=noninteractive
        policy=/usr/sbin/policy-rc.d
        own_policy=""
        if [[ ! -e "$policy" ]]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod 755 "$policy"
            own_policy=1
        fi
        status=0
        { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; } || status=$?
        [[ -n "$own_policy" ]] && rm -f "$policy"
        ((status == 0)) || say "apt-get install redis-server failed (exit $status)"
    fi
    if [[ -z "$(find_redis_server)" ]]; then
        say "redis-server not found. Install it with:"
        say "  sudo apt-get update && sudo apt-get install -y redis-server"
        say "(only the binary is used; the package's own service may be disabled:"
        say "  sudo systemctl disable --now redis-server)"
        exit 1
    fi
fi

# --- s3s-fs -------------------------------------------------------------------
# The S3-compatible server the file-storage tests (and benchmarks) run the `s3` backend against:
# a small Rust server over a folder, from crates.io. Built once into cargo's bin folder.
S3S_FS_VERSION=0.14.1
if ! command -v s3s-fs >/dev/null 2>&1; then
    say "s3s-fs not found; installing it with cargo (s3s-fs $S3S_FS_VERSION, a few minutes, once)"
    cargo install --locked --quiet "s3s-fs@$S3S_FS_VERSION" --features binary >&2 || {
        say "cargo install s3s-fs failed. Install it with:"
        say "  cargo install --locked s3s-fs@$S3S_FS_VERSION --features binary"
        exit 1
    }
fi

# Postgres refuses to run as root: as root, the servers (the test harness's and make run's) run
# as the `postgres` system user, which the Debian package creates. Make sure it exists.
if [[ "$(id -u)" -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    say "creating the 'postgres' system user"
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi

# Only the bin folder goes to stdout, so callers can capture it: PG_BIN="$(scripts/deps.sh)".
printf '%s\n' "$pg_bin"
