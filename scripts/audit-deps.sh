#!/usr/bin/env bash
# Audit the pinned dependency tree (requirements.lock) for known vulnerabilities with pip-audit.
#
# pip-audit asks a vulnerability database over the network (PyPI's JSON API by default, or OSV with
# --vulnerability-service osv). Where that cannot be reached, or it knows none of the packages, the
# audit has not happened: this script then says so and exits 3, instead of reporting "no known
# vulnerabilities". It is not part of scripts/test.sh or the CI for that reason: a network outage must
# not fail a build, and a silent pass would be worse. Run it where the network is open.
#
# Usage: bash scripts/audit-deps.sh [pip-audit options, e.g. --vulnerability-service osv]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIP_AUDIT="${PIP_AUDIT:-$ROOT/.venv/bin/pip-audit}"
OUT="$(mktemp "${TMPDIR:-/tmp}/beslut-audit.XXXXXX.json")"
trap 'rm -f "$OUT"' EXIT

status=0
"$PIP_AUDIT" -r "$ROOT/requirements.lock" --no-deps --disable-pip --progress-spinner off \
    --format json --output "$OUT" "$@" || status=$?

python3 - "$OUT" "$status" <<'PY'
import json
import sys

path, status = sys.argv[1], int(sys.argv[2])
try:
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
except (OSError, ValueError):
    print("audit-deps: no report: the vulnerability database could not be reached", file=sys.stderr)
    sys.exit(3)
dependencies = report.get("dependencies", [])
audited = [d for d in dependencies if "skip_reason" not in d]
vulnerable = [d for d in audited if d.get("vulns")]
for dependency in vulnerable:
    ids = ", ".join(v["id"] for v in dependency["vulns"])
    print(f"{dependency['name']} {dependency['version']}: {ids}")
print(f"audit-deps: {len(audited)} of {len(dependencies)} packages audited, {len(vulnerable)} with known vulnerabilities")
if not audited:
    print("audit-deps: nothing was audited: the vulnerability database knows none of the packages here", file=sys.stderr)
    sys.exit(3)
sys.exit(1 if vulnerable else status)
PY
