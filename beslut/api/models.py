"""Request bodies of the API's commands, as pydantic models (they are also the OpenAPI schemas).

The commands' bodies are made from the command table (:func:`body_of`); field names follow the
engine's keyword arguments. The legal date ``on`` is required
in every command, as ``--on`` is on the command line: the API never picks a legal date
for the caller. Unknown fields are refused (422) rather than ignored, so a misspelt
optional field cannot silently do nothing. The engine still does every check of the
domain; these models only refuse what is not even the right shape.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from beslut.states.commands import Command, Param


def _legal_date(value: Any) -> Any:
    """Accept only an ISO date (YYYY-MM-DD), with the CLI's message for anything else."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    shown = repr(value).replace("{", "{{").replace("}", "}}")  # the message is a template: escape its braces
    raise PydanticCustomError("legal_date", f"{shown} is not a date (YYYY-MM-DD)")


LegalDate = Annotated[
    date,
    BeforeValidator(_legal_date),
    Field(description="The legal date of the act (YYYY-MM-DD); not after today, not before the previous step."),
]
ExpectedVersion = Annotated[
    int | None,
    Field(
        default=None,
        ge=0,
        description="Refuse (409) unless the recommendation is at this version; the same as an If-Match header.",
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Propose(_Body):
    """Register a new recommendation from its spec."""

    spec: str = Field(description="The recommendation spec, as TOML text (see docs/spec.md).")
    on: LegalDate


class OnDate(_Body):
    """A command that needs only its legal date."""

    on: LegalDate
    expected_version: ExpectedVersion = None


def _field(param: Param) -> tuple[Any, Any]:
    """A command param as a pydantic field: its help as the description, its allowed values as an ``enum``.

    The enum is in the schema only: a value outside it is refused by the domain, with the same line
    the command line prints (tests/api/test_refusals.py), not by pydantic in words of its own.
    """
    extra: dict[str, Any] | None = {"enum": list(param.choices)} if param.choices else None
    if param.required:
        return str, Field(description=param.help, json_schema_extra=extra)
    return str | None, Field(default=None, description=param.help, json_schema_extra=extra)


@functools.lru_cache(maxsize=64)  # one model per command of the table
def body_of(command: Command[Any]) -> type[OnDate]:
    """The request body of *command* (named as its input, e.g. ``Decide``; ``OnDate`` when it has no params).

    The key and the party are in the path; the body has the legal date, the expected version and the
    command's params (:mod:`beslut.states.commands`).
    """
    if not command.params:
        return OnDate
    fields: dict[str, Any] = {param.name: _field(param) for param in command.params}
    return create_model(command.input.__name__, __base__=OnDate, __doc__=command.input.__doc__, **fields)


class ContactIn(_Body):
    """A person who receives a party's reminders (personal data: kept in the contact table only)."""

    party: str = Field(description="The party's key.")
    name: str | None = Field(default=None, description="The person's name.")
    email: str | None = Field(default=None, description="Where reminders are e-mailed.")
    active: bool = Field(default=True, description="False keeps the contact but sends nothing.")
