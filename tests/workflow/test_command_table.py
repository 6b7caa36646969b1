"""The command table is complete: every face of every command is derived from its one entry.

Each test fails when a command (or a field of one) is added to :mod:`beslut.states.commands` and a
face does not follow, or when a face grows a command the table does not have.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
import typer.main

from beslut.api import create_app
from beslut.cli import app
from beslut.states.case import EVENT_KINDS
from beslut.states.commands import BY_EVENT, COMMANDS, OPTIONS, STEPS, Command
from beslut.workflow import Engine
from beslut.workflow.batch import ACTIONS, REQUIRED, PartyStep
from beslut.workflow.engine import CommandResult

# Events no command records first: the proposal (its own command, from a spec) and what tick or
# another recommendation's command records as a consequence.
AUTOMATIC = {
    "recommendation.proposed",
    "party.overdue",
    "party.final",
    "recommendation.in_force",
    "recommendation.recounted",
    "recommendation.superseded",
}

_IDS = [command.name for command in COMMANDS]


@pytest.mark.parametrize("command", COMMANDS, ids=_IDS)
def test_the_engine_has_one_wrapper_per_command_with_the_input_as_keywords(command: Command[Any]) -> None:
    """``engine.<name>(key[, party], *, <fields>, on, expected_version)``, returning a CommandResult."""
    method = getattr(Engine, command.name)
    signature = inspect.signature(method)
    positional = [p.name for p in signature.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = {p.name: p for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert (["self", "key", "party"] if command.for_party else ["self", "key"]) == positional
    fields = {f.name: f for f in dataclasses.fields(command.input) if f.name != "party"}
    assert set(fields) | {"expected_version"} == set(keywords)
    for name, field in fields.items():
        required = field.default is dataclasses.MISSING
        assert required == (keywords[name].default is inspect.Parameter.empty), name
    assert "CommandResult" == signature.return_annotation or signature.return_annotation is CommandResult


def test_every_event_kind_is_a_commands_or_an_automatic_one() -> None:
    """The auditor re-runs a command for every event a command records; the rest are consequences."""
    assert set(EVENT_KINDS) == set(BY_EVENT) | AUTOMATIC
    assert not set(BY_EVENT) & AUTOMATIC


def test_the_batch_takes_every_party_step_with_all_its_fields() -> None:
    """A batch line can carry every field of every party step; the required ones are the input's."""
    assert set(ACTIONS) == {command.step for command in COMMANDS if command.step is not None}
    step_fields = {f.name for f in dataclasses.fields(PartyStep)}
    for action, command in STEPS.items():
        assert {p.name for p in command.params} <= step_fields, action
        assert REQUIRED[action] == tuple(p.name for p in command.params if p.required)


def _cli_command(words: tuple[str, ...]) -> Any:
    """The Click command Typer builds for ``beslut <words>`` (Typer carries its own Click: duck-typed)."""
    command: Any = typer.main.get_command(app)
    for word in words:
        command = command.get_command(command.context_class(command), word)
        assert command is not None, words
    return command


@pytest.mark.parametrize("command", COMMANDS, ids=_IDS)
def test_the_command_line_has_the_command_with_one_option_per_field(command: Command[Any]) -> None:
    """``beslut [party] <name> KEY [PARTY] --<field>… --on …``; required fields are required options."""
    cli = _cli_command(command.cli)
    options = {opt: param for param in cli.params if param.param_type_name == "option" for opt in param.opts}
    arguments = [param.name for param in cli.params if param.param_type_name == "argument"]
    assert (["key", "party"] if command.for_party else ["key"]) == arguments
    for param in command.params:
        assert param.option in options, param.option
        assert param.required == options[param.option].required, param.option
        assert OPTIONS[param.name] == param.option
    assert {"--on", "--db", "--expect-version", "--actor"} <= set(options)
    assert len(options) == len(command.params) + 4  # + --on --db --expect-version --actor


def test_the_command_line_has_no_table_command_the_table_lacks() -> None:
    """Every `party` command but `import` (many steps) is a table entry."""
    party = _cli_command(("party",))
    assert set(party.list_commands(party.context_class(party))) == {*STEPS, "import"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("openapi") / "beslut.db"
    with Engine.open(path) as engine:
        engine.init()
    document: dict[str, Any] = create_app(path).openapi()
    return document


@pytest.mark.parametrize("command", COMMANDS, ids=_IDS)
def test_the_api_has_the_route_with_the_input_as_its_body(command: Command[Any], openapi: dict[str, Any]) -> None:
    """``POST <route>``, named as the command, whose body has the input's fields (choices as an enum)."""
    operation = openapi["paths"][command.route]["post"]
    assert command.summary == operation["summary"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = openapi["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert {p.name for p in command.params} | {"on", "expected_version"} == set(schema["properties"])
    assert {p.name for p in command.params if p.required} | {"on"} == set(schema["required"])
    for param in command.params:
        if param.choices:
            assert list(param.choices) == schema["properties"][param.name]["enum"], param.name
    path_parameters = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
    assert ({"key", "party"} if command.for_party else {"key"}) == path_parameters
