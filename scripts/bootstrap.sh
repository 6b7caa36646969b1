#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv:
#   1. create .venv with `python3 -m venv` if it is missing (or broken),
#   2. install the pinned dependency tree from requirements.lock (runtime + dev tools),
#   3. install beslut itself, editable, without dependencies.
# Idempotent: a stamp file (.venv/.beslut-stamp) holds a sha256 of requirements.lock,
# pyproject.toml and the interpreter version; when it matches, nothing is installed.
# Quiet on success; on failure the pip log is printed.
#
# Usage: bash scripts/bootstrap.sh        (from any directory)
# Env:   PYTHON=python3.11 to choose the interpreter for a new .venv;
#        BESLUT_BOOTSTRAP_FORCE=1 to reinstall even when the stamp matches.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.beslut-stamp"
LOG="$VENV/.beslut-bootstrap.log"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for f in requirements.lock pyproject.toml; do
    [[ -f "$f" ]] || die "$ROOT/$f is missing"
done

# 1. The virtual environment.
if ! "$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; install Python 3.11+ (Debian 12: apt-get install python3 python3-venv)"
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
        || die "$("$PYTHON" --version 2>&1) is too old; beslut needs Python 3.11+ (set PYTHON=...)"
    say "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear "$VENV" \
        || die "'$PYTHON -m venv' failed (Debian 12: apt-get install python3-venv)"
fi

# Serialise concurrent bootstraps (e.g. demo and tests started together).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV/.beslut-bootstrap.lock"
    flock 9
fi

# 2./3. Dependencies and the project, unless the stamp says they are current.
want="$({
    cat requirements.lock pyproject.toml
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
    echo "$ROOT"
} | sha256sum | cut -d' ' -f1)"

if [[ "${BESLUT_BOOTSTRAP_FORCE:-}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

rm -f "$STAMP"
# Each step's full pip output goes to $LOG (overwritten per step) and is shown only on failure.
pip_install() {
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off "$@" >"$LOG" 2>&1
}
start=$SECONDS
say "installing requirements.lock into .venv (log: ${LOG#"$ROOT"/})"
if ! pip_install -r requirements.lock; then
    cat "$LOG" >&2
    die "installing requirements.lock failed (pip output above)"
fi
if ! pip_install --no-deps -e .; then
    cat "$LOG" >&2
    die "installing beslut itself (pip install --no-deps -e .) failed (pip output above)"
fi
echo "$want" >"$STAMP"
say "done in $((SECONDS - start))s"
