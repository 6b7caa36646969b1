"""The one rule for an actor id (beslut.states.actors): ids pass, names, e-mail addresses and the rest do not."""

from __future__ import annotations

import pytest

from beslut.errors import InvalidInput
from beslut.states.actors import MAX_ACTOR_LENGTH, actor_id, is_actor_id

# What the engine, the scheduler, the HTTP API and the test set-ups record by themselves: they must all pass.
RECORDED_BY_BESLUT = [
    "cli",
    "api",
    "scheduler",
    "demo",
    "setup",
    "bench",
    "token:0123456789ab",
    "service:registry-sync",
]
GOOD = [*RECORDED_BY_BESLUT, "u.42", "handl_7", "KS-2025:216", "a", "A" * MAX_ACTOR_LENGTH, "0"]
BAD = {
    "a name with a space": "Anna Andersson",
    "an e-mail address": "anna.andersson@example.se",
    "an @ alone": "anna@",
    "65 characters": "a" * (MAX_ACTOR_LENGTH + 1),
    "empty": "",
    "a tab": "anna\tandersson",
    "a trailing newline": "anna\n",
    "a leading space": " anna",
    "a non-ASCII letter": "åsa",
    "a slash": "svom/anna",
    "a comma": "anna,bo",
    "angle brackets": "<anna>",
    "a NUL": "anna\x00",
}


@pytest.mark.parametrize("value", GOOD)
def test_ids_pass_unchanged(value: str) -> None:
    assert is_actor_id(value)
    assert value == actor_id(value)


@pytest.mark.parametrize("value", list(BAD.values()), ids=list(BAD))
def test_anything_else_is_refused_naming_the_source(value: str) -> None:
    assert not is_actor_id(value)
    with pytest.raises(InvalidInput) as refusal:
        actor_id(value, source="--actor")
    message = str(refusal.value)
    assert message.startswith("--actor ")
    assert "never a name or an e-mail address" in message
    assert "\n" not in message.rstrip("\n")


@pytest.mark.parametrize("value", [None, 42, b"cli", ["cli"]])
def test_a_value_that_is_not_a_string_is_refused(value: object) -> None:
    assert not is_actor_id(value)
    with pytest.raises(InvalidInput, match="must be a string"):
        actor_id(value)


def test_the_refusal_says_what_is_wrong() -> None:
    with pytest.raises(InvalidInput, match=r"^BESLUT_ACTOR is empty: "):
        actor_id("", source="BESLUT_ACTOR")
    with pytest.raises(InvalidInput, match=r"^actor is 65 characters long: "):
        actor_id("a" * 65)
    with pytest.raises(InvalidInput, match=r"^actor 'Anna Andersson' is not an id: "):
        actor_id("Anna Andersson")


def test_a_long_refused_value_is_not_repeated_whole() -> None:
    """The refusal quotes at most a little of what it refuses (the error line is not a second place for a name)."""
    with pytest.raises(InvalidInput) as refusal:
        actor_id("Anna Maria Andersson Lindqvist, socialsekreterare")
    assert "socialsekreterare" not in str(refusal.value)
