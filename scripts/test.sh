#!/usr/bin/env bash
# Run everything CI runs: set-up, `ruff check`, `mypy`, and the whole pytest suite,
# including the tests against a real throwaway PostgreSQL 15 server (started by the
# test set-up from Debian's server binaries, which are installed with apt if missing).
# All three checks run; the exit status is non-zero if any of them failed.
#
# Usage: bash scripts/test.sh [pytest arguments...]      (from any directory)
# Env:   BESLUT_TEST_PG_URL=postgresql+psycopg://user@host:port/db to use an existing
#        server instead of starting one (its user must be allowed to create databases).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

bash "$ROOT/scripts/bootstrap.sh"

# --- PostgreSQL server binaries ------------------------------------------------------
pg_bindir() {
    local dir
    if [[ -n "${BESLUT_PG_BINDIR:-}" && -x "$BESLUT_PG_BINDIR/initdb" ]]; then
        echo "$BESLUT_PG_BINDIR"; return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"; return 0
        fi
    fi
    for dir in /usr/lib/postgresql/15/bin $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"; return 0
        fi
    done
    return 1
}

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL 15 server binaries not found and apt-get is unavailable; install PostgreSQL 15 (initdb, pg_ctl, postgres)"
    say "PostgreSQL server binaries not found; installing postgresql-15 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists first if they do not know the package yet.
    if ! apt-cache show postgresql-15 >/dev/null 2>&1 && ! apt-cache show postgresql >/dev/null 2>&1; then
        as_root apt-get update -qq
    fi
    as_root apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
        || { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null; } \
        || as_root apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
        || die "apt-get could not install PostgreSQL"
}

if [[ -z "${BESLUT_TEST_PG_URL:-}" ]]; then
    if ! BESLUT_PG_BINDIR="$(pg_bindir)"; then
        install_postgres
        BESLUT_PG_BINDIR="$(pg_bindir)" || die "PostgreSQL was installed but initdb/pg_ctl/postgres are still not found"
    fi
    export BESLUT_PG_BINDIR
    if [[ "$(id -u)" == 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' system user to run the test server as (apt-get install postgresql-common creates it)"
    fi
    say "PostgreSQL binaries: $BESLUT_PG_BINDIR ($("$BESLUT_PG_BINDIR/postgres" --version))"
fi

# --- Chromium for the dashboard's browser tests ---------------------------------------
# Debian's chromium, driven by Playwright (executable_path); never a downloaded browser.
if [[ -z "${BESLUT_CHROMIUM:-}" ]]; then
    if ! command -v chromium >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || die "chromium not found and apt-get is unavailable; install Debian's chromium or set BESLUT_CHROMIUM"
        say "chromium not found; installing it with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null \
            || { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
            || die "apt-get could not install chromium"
    fi
    BESLUT_CHROMIUM="$(command -v chromium)"
    export BESLUT_CHROMIUM
    say "Chromium: $BESLUT_CHROMIUM ($("$BESLUT_CHROMIUM" --version 2>/dev/null || echo unknown version))"
fi

# --- Graphviz for `beslut diagram --format svg` ---------------------------------------
if ! command -v dot >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "graphviz (dot) not found and apt-get is unavailable; install Debian's graphviz"
    say "graphviz not found; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq --no-install-recommends graphviz >/dev/null \
        || { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends graphviz >/dev/null; } \
        || die "apt-get could not install graphviz"
fi

# --- The checks ----------------------------------------------------------------------
failed=()

say "ruff check ."
.venv/bin/ruff check . || failed+=("ruff check")

say "mypy"
.venv/bin/mypy || failed+=("mypy")

if ((${#failed[@]})); then
    say "FAILED so far: ${failed[*]} (running pytest anyway)"
fi

say "pytest $*"
pytest_rc=0
.venv/bin/python -m pytest "$@" || pytest_rc=$?

if ((pytest_rc != 0)); then
    exit "$pytest_rc"
fi
if ((${#failed[@]})); then
    die "FAILED: ${failed[*]}"
fi
