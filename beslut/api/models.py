"""Request bodies of the API's commands, as pydantic models (they are also the OpenAPI schemas).

Field names follow the engine's keyword arguments. The legal date ``on`` is required
in every command, as ``--on`` is on the command line: the API never picks a legal date
for the caller. Unknown fields are refused (422) rather than ignored, so a misspelt
optional field cannot silently do nothing. The engine still does every check of the
domain; these models only refuse what is not even the right shape.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError


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


class Withdraw(OnDate):
    """Withdraw a proposed or recommended recommendation."""

    reason: str = Field(description="Why it is withdrawn.")


class Prepare(OnDate):
    """The party opened its case."""

    case_number: str = Field(description='The case number (diarienummer), e.g. "KS 2025/216".')


class ProposeParty(OnDate):
    """A committee of the party proposed a decision."""

    body: str = Field(description="The proposing committee, e.g. SAU.")
    paragraph: str = Field(description='Its minute paragraph, e.g. "§ 52".')


class Decide(OnDate):
    """The party's deciding body decided."""

    outcome: str = Field(description="approved | rejected | approved_with_conditions")
    paragraph: str = Field(description='The minute paragraph, e.g. "§ 88".')
    body: str | None = Field(default=None, description="The deciding body [default: the party's, from the spec].")
    conditions: str | None = Field(default=None, description="The conditions (with approved_with_conditions).")


class Settle(OnDate):
    """The court ruled on an appeal."""

    result: str = Field(description="dismissed (the decision stands) | annulled (decide again)")


class ContactIn(_Body):
    """A person who receives a party's reminders (personal data: kept in the contact table only)."""

    party: str = Field(description="The party's key.")
    name: str | None = Field(default=None, description="The person's name.")
    email: str | None = Field(default=None, description="Where reminders are e-mailed.")
    active: bool = Field(default=True, description="False keeps the contact but sends nothing.")
