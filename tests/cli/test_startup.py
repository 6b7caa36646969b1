"""The command line imports what a command needs, not the web stack: every `beslut` call pays for its imports.

Not timed (speed is measured in bench/, never asserted in a test): what is checked is *which* modules a
fresh interpreter holds after importing the CLI, and after running `status`, so a module-level import of
FastAPI, the dashboard or the audit tooling creeping back fails here by name.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastapi", "starlette", "prometheus_client", "beslut.web.router", "beslut.api.app", "beslut.audit.service",
         "beslut.audit.export", "cryptography")  # fmt: skip


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return set(done.stdout.split())


def test_importing_the_cli_loads_no_web_or_audit_stack() -> None:
    loaded = _loaded_after("import beslut.cli")
    assert [] == [name for name in HEAVY if name in loaded]
    assert "sqlalchemy" in loaded  # the probe does see what the CLI imports


def test_the_packages_still_offer_their_names_on_first_use() -> None:
    loaded = _loaded_after("from beslut.api import create_app\nfrom beslut.web import dashboard_router")
    assert {"fastapi", "beslut.api.app", "beslut.web.router"} <= loaded
