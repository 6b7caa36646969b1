"""`beslut serve`: the HTTP API (see docs/api.md), run with uvicorn on the same store as the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from beslut.cli._app import app
from beslut.cli._options import Db


@app.command()
def serve(
    db: Db = None,
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The TCP port to listen on.", min=0, max=65535)] = 8000,
    checkpoint_key: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-key",
            help="The Ed25519 private key (PEM, mode 0600) POST /audit/checkpoint signs with; without it that "
            "endpoint answers 503.",
        ),
    ] = None,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Mark the dashboard's session cookie Secure (sent over HTTPS only): use it behind HTTPS.",
        ),
    ] = False,
    api_docs: Annotated[
        bool,
        typer.Option(
            "--api-docs",
            help="Serve the interactive API pages /docs and /redoc (they load script from a CDN; off by default).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (and the dashboard) with uvicorn until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn  # noqa: PLC0415 - the server's imports stay out of other commands

    from beslut.api import create_app  # noqa: PLC0415

    # Refuses a missing or uninitialised database, and an unreadable or exposed key, before listening.
    api = create_app(
        db or os.environ.get("BESLUT_DB"),
        checkpoint_key=checkpoint_key,
        secure_cookies=secure_cookies,
        api_docs=api_docs,
    )
    uvicorn.run(api, host=host, port=port, log_level="info")
