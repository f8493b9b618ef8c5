#!/usr/bin/env bash
# Runs every test (`make test`). Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -p e2e
# The console's checks and browser tests run first (scripts/test-console.sh; SKIP_CONSOLE=1 skips them).
# Tests that need Postgres start their own private cluster (the harness runs `initdb` into a
# temporary folder), so no database has to be running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[backendify] %s\n' "$*"; }

started=$SECONDS
"$ROOT/scripts/deps.sh" >/dev/null
"$ROOT/scripts/check-deploy.sh" # deploy/: Dockerfiles, compose, Kubernetes overlays (offline)
cargo_bin="${CARGO_HOME:-${HOME:-}/.cargo}/bin"
[[ -d "$cargo_bin" ]] && PATH="$cargo_bin:$PATH"

# The launcher's test (tests/tests/launcher.rs) runs scripts/run-local.sh over the debug binaries.
say "cargo build --workspace --bins"
status=0
cargo build --workspace --bins || status=$?
# The console (console/): install, type-check, lint, unit tests, build, then the browser journeys
# against the platform they start from the debug binaries just built. SKIP_CONSOLE=1 skips it.
# It also leaves console/dist built, which the launcher's test serves. A console failure does not
# keep the Rust tests from running; either one fails the whole run.
console_status=0
if ((status == 0)) && [[ "${SKIP_CONSOLE:-0}" != 1 ]]; then
    "$ROOT/scripts/test-console.sh" || console_status=$?
    ((console_status == 0)) || say "console checks FAILED (exit $console_status)"
fi
if ((status == 0)); then
    say "cargo test --workspace $*"
    cargo test --workspace "$@" || status=$?
fi
((status == 0)) && status=$console_status

elapsed=$((SECONDS - started))
if ((status == 0)); then
    say "all tests passed in $((elapsed / 60))m $((elapsed % 60))s"
else
    say "tests FAILED (exit $status) after $((elapsed / 60))m $((elapsed % 60))s"
fi
exit "$status"
