"""The command line imports what a command needs, not the web stack: every `beslut` call pays for its imports.

Not timed (speed is measured in bench/bench_startup.py, never asserted in a test): what is checked is *which*
modules a fresh interpreter holds after importing the CLI (all `beslut --help` needs) and after running
`status KEY --json`, so a module-level import of a heavy package creeping back fails here by name.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from beslut.workflow import Engine
from tests.cli.helpers import KEY, SPEC_2022

HEAVY = ("fastapi", "starlette", "prometheus_client", "beslut.web.router", "beslut.api.app", "beslut.audit.service",
         "beslut.audit.export", "cryptography")  # fmt: skip

# Loaded by a command when it needs them, never at the start: the model layer the tables no longer use,
# the holiday tables (a date rolled), terminal tables (output without --json), migrations, the daemon's logs.
NOT_FOR_STATUS = ("holidays", "rich", "alembic", "structlog", "transitions.extensions.diagrams", *HEAVY)

# Not needed to print the help: no database, no engine, no domain model.
NOT_FOR_HELP = ("sqlalchemy", "beslut.persistence.abc", "beslut.persistence._sql", "beslut.workflow.engine",
                *NOT_FOR_STATUS)  # fmt: skip

MARK = "--- modules ---"


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint({MARK!r})\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return set(done.stdout.split(MARK)[-1].split())


def test_importing_the_cli_loads_no_web_or_audit_stack() -> None:
    loaded = _loaded_after("import beslut.cli")
    assert [] == [name for name in HEAVY if name in loaded]
    assert "typer" in loaded  # the probe does see what the CLI imports


def test_importing_the_cli_loads_no_database_or_engine() -> None:
    """What `beslut --help` imports: the commands' declarations, not what they run."""
    loaded = _loaded_after("import beslut.cli")
    assert [] == [name for name in NOT_FOR_HELP if name in loaded]


def test_status_json_loads_no_more_than_it_uses(tmp_path: Path) -> None:
    database = str(tmp_path / "beslut.db")
    with Engine.open(database, actor="test") as engine:
        engine.init()
        engine.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
    run = f"from beslut.cli import main\ntry:\n    main(['status', {KEY!r}, '--json', '--db', {database!r}])\nexcept SystemExit as e:\n    assert e.code == 0, e.code"  # fmt: skip
    loaded = _loaded_after(run)
    assert [] == [name for name in NOT_FOR_STATUS if name in loaded]
    assert {"sqlalchemy", "beslut.persistence._sql"} <= loaded  # the probe does see the command run


def test_the_packages_still_offer_their_names_on_first_use() -> None:
    loaded = _loaded_after(
        "from beslut.api import create_app\nfrom beslut.web import dashboard_router\nfrom beslut import Engine, Store"
    )
    assert {"fastapi", "beslut.api.app", "beslut.web.router", "beslut.workflow.engine", "beslut.workflow.ports"} <= loaded
