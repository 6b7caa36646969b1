"""`beslut party import`: many party steps in one transaction (the single steps: :mod:`beslut.cli.steps`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from beslut.cli._app import party_app
from beslut.cli._options import (
    Actor,
    Db,
    open_engine,
)
from beslut.workflow.steps_file import read_steps


@party_app.command("import")
def party_import(
    file: Annotated[Path, typer.Argument(help="JSON Lines (or .csv with a header row): one party step a line.")],
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Run many party steps in ONE transaction: all of them, or (one refused) none.

    Each line is a step with its own `on`: {"action": "decide", "key": ..., "party": ...,
    "on": "2025-05-20", "outcome": "approved", "paragraph": "§ 88"}; fields as the single
    commands' options (case_number for prepare's --case), expected_version optional.
    """
    steps = read_steps(file)
    engine = open_engine(db, actor, pause_gc=True)  # this process is the batch's own: the GC pause disturbs no host
    result = engine.batch(steps)
    engine.close()
    typer.echo(f"{len(steps)} steps on {len(result.cases)} recommendations ({len(result.records)} audit events)")
