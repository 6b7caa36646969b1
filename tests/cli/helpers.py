"""Run the `beslut` CLI as a user would: in-process for speed, or as the real console script.

`run` calls :func:`beslut.cli.main` with stdout and stderr redirected into strings and
turns ``SystemExit`` into the exit code, so a test sees exactly what a terminal would.
`run_script` starts ``.venv/bin/beslut`` in a subprocess to prove the same for real.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from beslut.cli import main
from beslut.persistence import open_store
from beslut.workflow import Engine

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SPEC_2022 = EXAMPLES / "mini-maria-2022.toml"
SPEC_2025 = EXAMPLES / "mini-maria-2025.toml"
KEY = "svom-2022-mini-maria"
KEY_2025 = "svom-2025-mini-maria-revision"
MUNICIPALITIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303"]
PARTIES = [*MUNICIPALITIES, "region-jh"]
AMOUNTS_2022 = {
    "2380": "1236026",
    "2309": "294998",
    "2321": "235795",
    "2313": "220461",
    "2361": "194347",
    "2326": "137103",
    "2305": "118657",
    "2303": "100113",
    "region-jh": "2462500",
}
SCRIPT = Path(sys.executable).parent / "beslut"


@dataclass(frozen=True)
class Result:
    """What one CLI invocation did: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str
    resource_warnings: list[str] = field(default_factory=list)

    def json(self) -> Any:
        """The stdout parsed as the one JSON document `--json` promises."""
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        """The lines printed on stderr."""
        return self.stderr.splitlines()


def run(*args: str, db: str | None) -> Result:
    """Run `beslut ARGS --db DB` in-process and capture its exit code, stdout and stderr.

    After a failed command the garbage is collected at once and any ResourceWarning
    (a database connection the command left open) is recorded in the result instead
    of surfacing in some later test.
    """
    argv = [*args, *(["--db", db] if db is not None else [])]
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exit_:
                code = _exit_code(exit_.code)
        if code != 0:
            _collect_garbage()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    for w in caught:  # every other warning goes on to the test's own filters (which make them errors)
        if not issubclass(w.category, ResourceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return Result(code=code, stdout=out.getvalue(), stderr=err.getvalue(), resource_warnings=leaks)


def run_script(*args: str, db: str | None, cwd: Path) -> Result:
    """Run the installed console script `beslut ARGS --db DB` in a subprocess."""
    argv = [str(SCRIPT), *args, *(["--db", db] if db is not None else [])]
    env = {k: v for k, v in os.environ.items() if k not in ("BESLUT_DB", "BESLUT_ACTOR")}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False)
    return Result(code=done.returncode, stdout=done.stdout, stderr=done.stderr)


def ok(*args: str, db: str | None) -> Result:
    """Run a command that must succeed; fail the test with its stderr if it does not."""
    result = run(*args, db=db)
    assert 0 == result.code, f"beslut {' '.join(args)} failed: {result.stderr}"
    return result


def dump(db: str) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every row of every table of the database, in order."""
    store = open_store(db)
    try:
        return store.dump()
    finally:
        store.close()


def refused(*args: str, db: str, code: int = 2) -> Result:
    """Run a command that must be refused: one `error:` line, nothing on stdout, the database unchanged."""
    before = dump(db)
    result = run(*args, db=db)
    after = dump(db)
    assert code == result.code, f"beslut {' '.join(args)}: {result}"
    assert 1 == len(result.error_lines), result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.strip()) > len("error:"), result.stderr
    assert "" == result.stdout.strip()
    assert before == after
    return result


def status(db: str, key: str = KEY) -> dict[str, Any]:
    """The `status KEY --json` document."""
    document: dict[str, Any] = ok("status", key, "--json", db=db).json()
    return document


def party(db: str, party_key: str, key: str = KEY) -> dict[str, Any]:
    """One party's object in the `status KEY --json` document."""
    return next(p for p in status(db, key)["parties"] if p["key"] == party_key)


def decide(db: str, party_key: str, on: str, outcome: str = "approved", *extra: str, key: str = KEY) -> Result:
    """Record a decision of *party_key* (paragraph "§ 1"), with any *extra* options."""
    return ok("party", "decide", key, party_key, "--outcome", outcome, "--paragraph", "§ 1", "--on", on, *extra, db=db)


_frozen = False


def _collect_garbage() -> None:
    """A full collection, made cheap after the first one by freezing what was alive then out of later scans.

    (gc.freeze keeps those objects alive for the rest of the process: a little memory, for
    collections that take milliseconds instead of a tenth of a second in a full test session.)
    """
    global _frozen  # noqa: PLW0603 - once per process
    gc.collect()
    if not _frozen:
        gc.freeze()
        _frozen = True


def tamper_audit(db: str, *, seq: int) -> None:
    """Change the payload of audit event *seq* directly in the database, behind the append-only triggers."""
    url = db if "://" in db else f"sqlite:///{db}"
    connectable = create_engine(url)
    try:
        with connectable.begin() as connection:
            if url.startswith("sqlite"):
                connection.execute(text("DROP TRIGGER audit_event_no_update"))
            else:
                connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
            changed = connection.execute(
                text(
                    'UPDATE audit_event SET payload = replace(payload, \'"actor":"\', \'"actor":"x\') WHERE seq = :seq'
                ),
                {"seq": seq},
            )
            assert 1 == changed.rowcount
    finally:
        connectable.dispose()


@contextlib.contextmanager
def engine(db: str) -> Iterator[Engine]:
    """The Python API on *db*, to bring a database to a starting point quickly (one connection, no CLI parsing).

    Only for setting up: the behaviour under test always goes through the CLI.
    """
    opened = Engine.open(db, actor="setup")
    try:
        yield opened
    finally:
        opened.close()


def approve_all(db: str, on: str, parties: Sequence[str] = PARTIES, key: str = KEY) -> None:
    """Set-up: every party in *parties* approves *key* on *on* (through the API, paragraph "§ 1")."""
    with engine(db) as api:
        for p in parties:
            api.decide(key, p, outcome="approved", paragraph="§ 1", on=date.fromisoformat(on))


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1
