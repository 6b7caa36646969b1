"""`beslut token …`: the HTTP API's tokens. A token is printed once, when it is made; the database keeps its hash."""

from __future__ import annotations

from typing import Annotated

import typer

from beslut import render
from beslut.cli._app import token_app
from beslut.cli._options import Db, Json, emit_json, open_engine


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="clerk | coordinator | auditor | admin")],
    party: Annotated[
        str | None, typer.Option("--party", help="The one party a clerk may act for (a clerk needs it).")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="What the token is for (shown by `token list`).")] = None,
    db: Db = None,
) -> None:
    """Create an API token and print it, alone, on stdout: it is shown this once and never stored."""
    from beslut.api import tokens  # noqa: PLC0415 - the token store loads when a token command runs

    engine = open_engine(db)
    _token, secret = tokens.issue(engine.store, role=role, party=party, label=label, now=engine.clock.now())
    engine.close()
    typer.echo(secret)


@token_app.command("list")
def token_list(db: Db = None, json_output: Json = False) -> None:
    """List the API tokens (ids, roles, parties; never the tokens themselves)."""
    from beslut.api import tokens  # noqa: PLC0415
    from beslut.api.views import token_json  # noqa: PLC0415

    engine = open_engine(db)
    rows = [token_json(t) for t in tokens.tokens(engine.store)]
    engine.close()
    if json_output:
        emit_json(rows)
        return
    render.print_rows(rows, title="API tokens", empty="no API tokens")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, as `token list` shows it.")],
    db: Db = None,
) -> None:
    """Revoke an API token: every later request with it is refused (HTTP 401)."""
    from beslut.api import tokens  # noqa: PLC0415 - the token store loads when a token command runs

    engine = open_engine(db)
    tokens.revoke(engine.store, token_id, now=engine.clock.now())
    engine.close()
    typer.echo(f"token {token_id} revoked")
