#!/usr/bin/env bash
# Offline checks of deploy/ (`make check-deploy`; scripts/test.sh runs it first): the Dockerfiles,
# deploy/compose.yaml and every Kubernetes overlay, without Docker, kubectl, kustomize or a
# cluster. The overlays are rendered by scripts/render_kustomize.py and validated against the
# Kubernetes JSON schemas bundled in the kubernetes-validate package; deploy/check/check_deploy.py
# says what else is checked.
#
# A Python virtualenv with pinned packages is made once in $CARGO_TARGET_DIR/deploy-venv (a
# download from PyPI the first time; later runs are offline and take a few seconds).
# Environment: PYTHON (default python3, 3.9 or later), KEEP_RENDERED=1 keeps the rendered overlays.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[deploy] %s\n' "$*"; }
die() { printf '[deploy] error: %s\n' "$*" >&2; exit 1; }

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
VENV="$TARGET_DIR/deploy-venv"
PYTHON="${PYTHON:-python3}"

# Pinned: kubernetes-validate bundles the schemas (Kubernetes 1.25 to 1.37); the rest are its
# dependencies at the versions tested here.
REQUIREMENTS=(
    kubernetes-validate==1.37.0
    PyYAML==6.0.4
    jsonschema==4.26.0
    jsonschema-specifications==2025.9.1
    referencing==0.37.0
    rpds-py==2026.9.1
    attrs==26.1.0
    typing_extensions==4.16.0
    importlib_resources==7.1.0
    packaging==26.4
)
STAMP="$VENV/.requirements"

started=$SECONDS
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "${REQUIREMENTS[*]}" ]]; then
    # Python and its venv module: installed here when missing, as scripts/deps.sh does for Postgres.
    can_apt() { [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; }
    if ! command -v "$PYTHON" >/dev/null 2>&1 && can_apt; then
        say "installing python3 (apt-get)"
        apt-get update -qq >/dev/null && apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3 (and its venv module)"
    say "creating the Python environment in ${VENV#"$ROOT"/} (pinned kubernetes-validate and friends)"
    rm -rf "$VENV"
    mkdir -p "$TARGET_DIR"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        can_apt || die "could not create a virtualenv (on Debian: apt-get install python3-venv)"
        say "installing python3-venv (apt-get)"
        apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "${REQUIREMENTS[@]}" || { rm -rf "$VENV"; die "pip install failed"; }
    printf '%s' "${REQUIREMENTS[*]}" >"$STAMP"
else
    say "using the Python environment in ${VENV#"$ROOT"/}"
fi

OUT="$(mktemp -d "${TMPDIR:-/tmp}/backendify-deploy.XXXXXX")"
if [[ "${KEEP_RENDERED:-0}" == 1 ]]; then
    say "rendered manifests are kept in $OUT"
else
    trap 'rm -rf "$OUT"' EXIT
fi

status=0
"$VENV/bin/python" "$ROOT/deploy/check/check_deploy.py" "$ROOT" "$OUT" || status=$?
if ((status == 0)); then
    say "deployment checks passed in $((SECONDS - started))s"
else
    say "deployment checks FAILED (exit $status)"
fi
exit "$status"
