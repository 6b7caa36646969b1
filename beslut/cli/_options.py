"""Shared pieces of the CLI: option types, argument parsing, opening the engine, printing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from beslut.clock import parse_legal_date
from beslut.errors import NotFound, StoreUnavailable
from beslut.jsontext import pretty
from beslut.persistence import DEFAULT_DATABASE
from beslut.states.actors import RULE, actor_id

if TYPE_CHECKING:  # the engine, the store and SQLAlchemy load when a command opens the database, not for --help
    from beslut.workflow import CommandResult, Engine

Db = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="BESLUT_DB", help=f"Database: a file path or SQLAlchemy URL [default: {DEFAULT_DATABASE}]"
    ),
]
On = Annotated[str, typer.Option("--on", help="The legal date of the act, YYYY-MM-DD.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Expect = Annotated[
    int | None, typer.Option("--expect-version", help="Refuse (exit 3) unless the recommendation is at this version.")
]
ACTOR_ENV = "BESLUT_ACTOR"


def _actor_option(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """Refuse an actor that is not an id before the command opens the database, naming where it came from.

    Click reads an empty environment variable as unset; an empty ``BESLUT_ACTOR`` is refused here
    instead of quietly becoming ``cli``: whoever set it meant to name someone.
    """
    name = param.name or "actor"
    source = ctx.get_parameter_source(name)  # by name: Typer carries its own copy of Click's enum
    from_env = source is not None and source.name == "ENVIRONMENT"
    if value is None:
        if os.environ.get(ACTOR_ENV) == "":
            actor_id("", source=ACTOR_ENV)
        return None
    return actor_id(value, source=ACTOR_ENV if from_env else "--actor")


Actor = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar=ACTOR_ENV,
        callback=_actor_option,
        help=f"Id of who acts, recorded in the audit log: {RULE}; never a name or an e-mail address.",
    ),
]
Key = Annotated[str, typer.Argument(help="The recommendation's key.")]
Party = Annotated[str, typer.Argument(help="The party's key.")]


def parse_date(value: str, option: str = "--on") -> date:
    """A date written YYYY-MM-DD exactly (:func:`beslut.clock.parse_legal_date`), or a refusal naming the option."""
    return parse_legal_date(value, option)


_OPENED: list[Engine] = []


def close_engines() -> None:
    """Close every engine a command opened, whether it finished or was refused."""
    while _OPENED:
        _OPENED.pop().close()


def open_engine(db: str | None, actor: str | None = None, *, must_exist: bool = True, pause_gc: bool = False) -> Engine:
    """The engine on *db*, closed when the command ends; *pause_gc* for a command that runs in its own process."""
    from beslut.persistence import open_store  # noqa: PLC0415
    from beslut.persistence.schema import require_current_store  # noqa: PLC0415
    from beslut.workflow import Engine  # noqa: PLC0415

    actor = actor_id("cli" if actor is None else actor, source="--actor")  # before anything is opened or created
    target = db or os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    refuse_directory(target)
    if must_exist and "://" not in target and not Path(target).is_file():
        # Opening an SQLite path creates the file; a read or a refused command must not.
        raise NotFound(f"database {target} does not exist: run `beslut init` first")
    store = open_store(target)
    if must_exist and not store.is_initialised():
        store.close()
        raise NotFound(f"database {describe_db(db)} is not initialised: run `beslut init` first")
    if must_exist:
        try:
            require_current_store(store)  # behind or ahead of this beslut: refuse, never migrate implicitly
        except BaseException:
            store.close()
            raise
    engine = Engine(store, actor=actor, pause_gc=pause_gc)
    _OPENED.append(engine)
    return engine


def refuse_directory(target: str) -> None:
    """Refuse (exit 5) a ``--db`` path that is a directory, before SQLite says only "unable to open"."""
    if "://" not in target and Path(target).is_dir():
        raise StoreUnavailable(f"database {target} is a directory, not a database file")


def describe_db(db: str | None) -> str:
    store_target = db or DEFAULT_DATABASE
    return store_target.split("@")[-1] if "://" in store_target else store_target


def done(engine: Engine, result: CommandResult, what: str) -> None:
    engine.close()
    typer.echo(f"{result.case.key}: {what} (version {result.version})")


def emit_json(document: Any, *, float_free: bool = False) -> None:
    """Print *document* as indented JSON; *float_free* (a read model: no floats) lets orjson write it.

    The bytes are the same either way (:mod:`beslut.jsontext`); orjson is only faster.
    """
    typer.echo(pretty(document) if float_free else json.dumps(document, ensure_ascii=False, indent=2))


def emit_json_list(name: str, items: Iterable[Any]) -> None:
    """Print ``{name: [items...]}`` of float-free read models exactly as :func:`emit_json` would, one at a time.

    Why: the list can be as large as the database; writing each item as it comes keeps memory at
    one item while the bytes stay identical to ``json.dumps({name: list(items)}, indent=2)``
    (tests/cli pins that equality).
    """
    head = json.dumps(name, ensure_ascii=False)
    first = True
    for item in items:
        # Indent every line by four spaces (textwrap.indent, without its per-line Python loop: an
        # indented JSON text has no blank lines, newlines inside strings being escaped).
        body = "    " + pretty(item).replace("\n", "\n    ")
        typer.echo(("{\n  " + head + ": [\n" if first else ",\n") + body, nl=False)
        first = False
    typer.echo("{\n  " + head + ": []\n}" if first else "\n  ]\n}")
