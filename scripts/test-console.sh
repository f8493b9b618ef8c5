#!/usr/bin/env bash
# The console's checks (part of `make test`): npm ci, type-check, lint, unit tests, production
# build, and the Playwright journeys in Debian's chromium against the real platform, which the
# tests start from the debug binaries (BIN_DIR, default ${CARGO_TARGET_DIR:-target}/debug; build
# them first with `cargo build --workspace --bins`).
#   CONSOLE_SCREENSHOTS=1   also rewrite the screenshots in docs/console/
#   CHROMIUM_PATH           the browser (default /usr/bin/chromium)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/console"

say() { printf '[backendify] %s\n' "$*"; }
started=$SECONDS

command -v npm >/dev/null 2>&1 || { say "npm not found: install Node.js 20+"; exit 1; }
[[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]] || { say "chromium not found: run scripts/deps.sh (as root) or apt-get install chromium"; exit 1; }

say "console: npm ci"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
say "console: type-check"
npm run --silent typecheck
say "console: lint"
npm run --silent lint
say "console: unit tests"
npm run --silent test:unit
say "console: build"
npm run --silent build
say "console: browser journeys (Playwright, chromium)"
export BIN_DIR="${BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}"
npx playwright test
say "console: all checks passed in $((SECONDS - started)) s"
