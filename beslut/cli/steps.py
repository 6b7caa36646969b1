"""The commands of the command table on the command line: ``recommend``, ``withdraw``, ``consolidate``, ``party …``.

Each entry of :data:`beslut.states.commands.COMMANDS` becomes one Typer command with the key (and
the party), one option per field of its input (``--case`` for ``case_number``, the others as
``--name``), ``--on``, and the options every command shares (``--db``, ``--expect-version``,
``--actor``). Running it is :meth:`beslut.workflow.Engine.run` followed by the entry's one line.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from beslut.cli._app import app, party_app
from beslut.cli._options import Actor, Db, Expect, Key, On, Party, done, open_engine, parse_date
from beslut.states.commands import COMMANDS, Command, Param


def _option(param: Param, kind: Any) -> inspect.Parameter:
    annotation = Annotated[kind, typer.Option(param.option, help=param.help)]
    default = inspect.Parameter.empty if param.required else None
    return inspect.Parameter(param.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _signature(command: Command[Any]) -> inspect.Signature:
    """``KEY [PARTY] --<field>… --on … [--<optional field>…] [--db] [--expect-version] [--actor]``."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("key", keyword, annotation=Key)]
    if command.for_party:
        params.append(inspect.Parameter("party", keyword, annotation=Party))
    params += [_option(p, str) for p in command.params if p.required]
    params.append(inspect.Parameter("on", keyword, annotation=On))
    params += [_option(p, str | None) for p in command.params if not p.required]
    params += [
        inspect.Parameter("db", keyword, annotation=Db, default=None),
        inspect.Parameter("expect_version", keyword, annotation=Expect, default=None),
        inspect.Parameter("actor", keyword, annotation=Actor, default=None),
    ]
    return inspect.Signature(params, return_annotation=None)


def _cli_command(command: Command[Any]) -> Any:
    """The Typer callback of *command*: parse, run it through the engine, print its one line."""

    def run(**values: Any) -> None:
        engine = open_engine(values.pop("db"), values.pop("actor"))
        key, expected = values.pop("key"), values.pop("expect_version")
        args = command.args({**values, "on": parse_date(values["on"])})
        result = engine.run(command, key, args, expected_version=expected)
        done(engine, result, command.said(args, result.case))

    signature = _signature(command)
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()} | {"return": None}
    run.__name__ = "_".join(command.cli)
    run.__doc__ = command.help
    return run


for _command in COMMANDS:
    _group = party_app if _command.for_party else app
    _group.command(_command.cli[-1], help=_command.help)(_cli_command(_command))
