"""Commands on a recommendation: init, propose, tick, status, demo (recommend, withdraw, consolidate: cli/steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from beslut import render
from beslut.cli._app import app
from beslut.cli._options import (
    Actor,
    Db,
    Json,
    describe_db,
    done,
    emit_json,
    emit_json_list,
    open_engine,
    parse_date,
)
from beslut.cli._progress import Progress
from beslut.clock import parse_instant
from beslut.errors import InvalidInput
from beslut.states.views import case_status
from beslut.workflow.documents import fired_json

# ---------------------------------------------------------------- set-up


@app.command()
def init(db: Db = None) -> None:
    """Create the database schema (tables and the audit log's append-only triggers)."""
    target = db
    if target is not None and "://" not in target and not Path(target).parent.exists():
        raise InvalidInput(f"directory {Path(target).parent} does not exist")
    engine = open_engine(target, must_exist=False)
    created = engine.init()
    engine.close()
    typer.echo(f"initialised {describe_db(target)}" if created else f"{describe_db(target)} was already initialised")


# ---------------------------------------------------------------- recommendation


@app.command()
def propose(
    spec: Annotated[Path, typer.Argument(help="The recommendation spec (TOML).")],
    on: Annotated[str | None, typer.Option("--on", help="The legal date of the proposal [default: today].")] = None,
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Register a new recommendation from a TOML spec."""
    legal_date = parse_date(on) if on is not None else None
    try:
        text = spec.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read spec {spec}: {error}") from None
    engine = open_engine(db, actor)
    result = engine.propose(text, on=legal_date)
    done(engine, result, f"proposed with {len(result.case.parties)} parties, reply by {result.case.reply_deadline}")


@app.command()
def tick(
    now: Annotated[
        str, typer.Option("--now", help="The instant to fire deadlines at (ISO 8601; local time if no offset).")
    ],
    db: Db = None,
    json_output: Json = False,
) -> None:
    """Fire every timer due at NOW: transitions (overdue, laga kraft, in force) and reminders; idempotent."""
    engine = open_engine(db)
    fired = engine.tick(parse_instant(now), progress=Progress("tick: timers"))  # a long tick reports on stderr
    engine.close()
    if json_output:
        emit_json({"fired": [fired_json(f) for f in fired]})
        return
    for f in fired:
        who = f" {f.deadline.party}" if f.deadline.party else ""
        kinds = ", ".join(r.kind for r in f.records)
        if f.messages or f.skipped:
            kinds = f"{f.messages} message(s) queued" + (f", {f.skipped} skipped (coalesced)" if f.skipped else "")
        kinds = kinds or "nothing left to do"
        typer.echo(f"{f.deadline.due_at.isoformat()} {f.deadline.recommendation}{who} {f.deadline.kind}: {kinds}")
    typer.echo(f"{len(fired)} deadline(s) handled")


@app.command()
def status(
    key: Annotated[str | None, typer.Argument(help="One recommendation; all when omitted.")] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """Show where a recommendation (or every one) stands, party by party, with each share of the cost."""
    engine = open_engine(db)
    if key is not None:
        document = case_status(engine.case(key))
        engine.close()
        if json_output:
            emit_json(document, float_free=True)
        else:
            render.print_statuses([document], detailed=True)
        return
    # Every recommendation: streamed a page at a time from one snapshot, so memory does not grow
    # with the database (the whole list was held in memory before).
    statuses = (case_status(case) for case in engine.iter_cases())
    if json_output:
        emit_json_list("recommendations", statuses)
    else:
        render.print_statuses(statuses, detailed=False)


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    db: Annotated[
        str | None, typer.Option("--db", help="Where to write the demo database [default: a new temporary file].")
    ] = None,
) -> None:
    """Play the 2022 Mini-Maria case and its 2025 revision end to end on an embedded SQLite file."""
    from beslut.demo import run_demo  # noqa: PLC0415 - the demo is not loaded for other commands

    run_demo(db)
