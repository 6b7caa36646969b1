"""The `beslut` command line: a thin layer over :class:`beslut.Engine`.

Each command parses its arguments, calls one engine method and prints the result.
Refusals are the engine's exceptions, printed as one ``error:`` line on stderr
with the exit code their class carries (2 refused, 3 conflict, 4 audit failure);
usage errors from Typer are folded into the same one-line form.

Commands register themselves on the shared Typer objects of :mod:`beslut.cli._app`
when their module is imported, so each group lives in its own module.
"""

from __future__ import annotations

from beslut.cli import audit, commands, db, diagram, party, scheduler, serve, steps, token
from beslut.cli._app import app, main

__all__ = ["app", "audit", "commands", "db", "diagram", "main", "party", "scheduler", "serve", "steps", "token"]
