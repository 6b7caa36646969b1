"""`beslut db`: where the database schema stands, and upgrading it (Alembic, one transaction).

These are the only commands that open a database whose schema is behind or ahead of
this beslut; every other command refuses such a database (see
:func:`beslut.persistence.schema.require_current`). Nothing here runs implicitly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from beslut.cli._app import app
from beslut.cli._options import Db, Json, describe_db, emit_json
from beslut.errors import NotFound
from beslut.persistence import DEFAULT_DATABASE, open_store

if TYPE_CHECKING:  # the schema module (SQLAlchemy) loads when a db command runs
    from beslut.persistence import Store
    from beslut.persistence import schema as sch

db_app = typer.Typer(no_args_is_help=True, help="The database schema: where it stands, and upgrading it.")
app.add_typer(db_app, name="db")

To = Annotated[str, typer.Option("--to", help="The revision to upgrade to (see `beslut db history`).")]


@contextmanager
def _store(db: str | None, *, read_only: bool) -> Iterator[Store]:
    """The database, refused when an SQLite file does not exist (opening would create it)."""
    target = db or os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    if "://" not in target and not Path(target).is_file():
        raise NotFound(f"database {target} does not exist: run `beslut init` to create one at the newest schema")
    store = open_store(target, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


def _state(store: Store) -> sch.SchemaState:
    from beslut.persistence import schema as sch  # noqa: PLC0415

    with store.engine.connect() as connection:  # type: ignore[attr-defined]
        try:
            return sch.schema_state(connection)
        finally:
            connection.rollback()


@db_app.command("upgrade")
def db_upgrade(db: Db = None, to: To = "head", json_output: Json = False) -> None:
    """Upgrade the schema to the newest revision (or --to one), in one transaction. Back up first."""
    from beslut.persistence import schema as sch  # noqa: PLC0415

    with _store(db, read_only=False) as store:
        result = sch.upgrade(store, to=to)
    if json_output:
        emit_json(result.as_json())
        return
    where = describe_db(db)
    if not result.applied and not result.before.legacy:
        typer.echo(f"{where} is already at {result.after.current}")
        return
    stamped = f" (stamped {sch.BASELINE}: made before migrations)" if result.before.legacy else ""
    applied = ", ".join(result.applied) or "nothing"
    typer.echo(f"upgraded {where} from {result.before.shown} to {result.after.current}{stamped}; applied {applied}")


@db_app.command("current")
def db_current(db: Db = None, json_output: Json = False) -> None:
    """Show the database's schema revision and whether it is behind this beslut."""
    with _store(db, read_only=True) as store:
        state = _state(store)
    if json_output:
        emit_json(state.as_json())
        return
    advice = {
        "current": "up to date",
        "behind": f"behind: {len(state.pending)} to apply, run `beslut db upgrade`",
        "legacy": f"made before migrations: run `beslut db upgrade` to record it ({len(state.pending)} to apply)",
        "ahead": "AHEAD of this beslut: upgrade beslut, not the database",
        "empty": "no schema: run `beslut init`",
    }[state.status]
    typer.echo(f"{state.shown} (this beslut: {state.head}): {advice}")


@db_app.command("history")
def db_history(db: Db = None, json_output: Json = False) -> None:
    """List the schema revisions, oldest first, marking those the database has."""
    from beslut.persistence import schema as sch  # noqa: PLC0415

    target = db or os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    if "://" not in target and not Path(target).is_file():
        revisions = sch.history(None)  # no database: just the revisions this beslut ships
    else:
        with _store(db, read_only=True) as store, store.engine.connect() as connection:  # type: ignore[attr-defined]
            try:
                revisions = sch.history(connection)
            finally:
                connection.rollback()
    if json_output:
        emit_json({"revisions": [asdict(r) for r in revisions]})
        return
    for r in revisions:
        mark = "*" if r.current else ("+" if r.applied else " ")
        typer.echo(f"{mark} {r.revision}  {r.description}")
