"""`beslut audit …`: read and verify the audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from beslut import render
from beslut.cli._app import audit_app
from beslut.cli._options import (
    Db,
    Json,
    emit_json,
    open_engine,
)

# ---------------------------------------------------------------- audit


@audit_app.command("verify")
def audit_verify(db: Db = None, json_output: Json = False) -> None:
    """Recompute the hash chain; exit 0 when it holds, 4 naming the first bad seq when it does not."""
    engine = open_engine(db)
    report = engine.verify_audit()
    engine.close()
    if json_output:
        emit_json(report.as_dict())
    elif report.ok:
        typer.echo(f"ok: {report.events} events, head seq {report.head_seq}, hash {report.head_hash}")
    if not report.ok:
        typer.echo(f"error: audit log broken at seq {report.first_bad_seq}: {report.problem}", err=True)
        raise typer.Exit(4)


@audit_app.command("log")
def audit_log(
    key: Annotated[str | None, typer.Argument(help="One recommendation; all when omitted.")] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """The audit events, oldest first."""
    engine = open_engine(db)
    records = engine.audit_log(key)
    engine.close()
    if json_output:
        emit_json([r.as_dict() for r in records])
        return
    render.print_log(records)
