"""`beslut diagram`: draw a state machine from its definition, as Mermaid text or SVG, on stdout."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from beslut.cli._app import app
from beslut.web.diagrams import FORMATS, MACHINES, draw


@app.command()
def diagram(
    machine: Annotated[str, typer.Argument(help=f"Which machine: {' or '.join(MACHINES)}.")],
    fmt: Annotated[str, typer.Option("--format", help=f"Output format: {' or '.join(FORMATS)}.")] = "mermaid",
) -> None:
    """Draw a state machine (every state and trigger of its definition) on stdout."""
    text = draw(machine, fmt)
    sys.stdout.write(text)
