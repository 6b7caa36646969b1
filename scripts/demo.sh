#!/usr/bin/env bash
# Run the beslut demo on an embedded SQLite database, setting everything up first.
# Usage: bash scripts/demo.sh [demo options...]      (from any directory)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/beslut" demo "$@"
