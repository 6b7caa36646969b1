"""Fuzz the spec parser: malformed specs are refused with one SpecError line, never another exception.

Hypothesis starts from the shipped 2022 spec and breaks it: a field replaced by a value of the
wrong type, a huge string, control characters, dates and datetimes out of range, injection
attempts, deep nesting, unknown keys, missing keys; or it garbles the TOML text itself. The
parser must either return a spec or raise :class:`SpecError` whose message is one line naming a
field. A spec that does parse must then be proposed by the engine or refused (a Refusal), on a
real SQLite file: nothing that parses may crash a command later.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beslut.clock import STOCKHOLM, FixedClock
from beslut.errors import Refusal, SpecError
from beslut.states.spec import parse_spec_text
from beslut.workflow import Engine
from tests.conftest import spec_2022

BASE: dict[str, Any] = tomllib.loads(spec_2022())
FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # Same examples every CI run; BESLUT_FUZZ_RANDOM=1 explores (see test_fuzz_cli.py).
    derandomize=os.environ.get("BESLUT_FUZZ_RANDOM") != "1",
)

INJECTIONS = [
    "'; DROP TABLE audit_event; --",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "\x1b[2J\x1b[31mred",
    "\x9b31m",
    "line\u2028separator",
    "../../etc/passwd",
    "%s%s%s%n",
    "\u202egnp.exe",
    "NULL",
]

text_chars = st.characters(exclude_categories=["Cs"])  # TOML text is Unicode scalar values
nasty_strings = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(text_chars, max_size=40),
    st.text(st.characters(max_codepoint=0x9F), min_size=1, max_size=10),  # mostly control characters
    st.integers(min_value=501, max_value=200_000).map(lambda n: "x" * n),  # huge strings
    st.sampled_from(
        [
            "",
            " ",
            "\t",
            "2022-02-30",
            "0000-01-01",
            "99999-01-01",
            "P0D",
            "P9999D",
            "quorum:0",
            "quorum:-1",
            "1e3",
            "NaN",
            "0.1.2",
            "-5000000",
        ]
    ),
)
nasty_values: st.SearchStrategy[Any] = st.one_of(
    nasty_strings,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.times(),
    st.lists(st.one_of(st.integers(), nasty_strings), max_size=4),
    st.dictionaries(st.text(text_chars, min_size=1, max_size=8), st.integers(), max_size=3),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in the spec data."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


PATHS = list(_paths(BASE))


@st.composite
def broken_specs(draw: st.DrawFn) -> dict[str, Any]:
    """The 2022 spec with one to three fields replaced, removed, or joined by unknown ones."""
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = data
        try:
            for step in path[:-1]:
                parent = parent[step]
            action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown"]))
            if action == "replace":
                parent[path[-1]] = draw(nasty_values)
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(text_chars, min_size=1, max_size=12))] = draw(nasty_values)
        except (KeyError, IndexError, TypeError):  # an earlier change removed or retyped the parent
            continue
    return data


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """One value in TOML syntax (tables inline, so any nesting fits on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    """The spec as a TOML document of top-level keys."""
    return "".join(f"{toml_string(str(key))} = {toml_value(value)}\n" for key, value in data.items())


def _check_parse(text: str) -> object:
    """Parse *text*: a spec, or a SpecError with one line naming a field; anything else fails the test."""
    try:
        return parse_spec_text(text)
    except SpecError as error:
        message = str(error)
        assert "\n" not in message
        assert "\r" not in message
        assert message.startswith("spec field "), message  # then the field, quoted by repr
        assert len(message) < 1000, f"a {len(message)}-character message"
        return error


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One SQLite engine for the module: specs that parse are proposed here (each under a fresh key)."""
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    opened = Engine.open(db, clock=FixedClock(datetime(2022, 12, 1, 12, tzinfo=STOCKHOLM)), actor="fuzz")
    opened.init()
    yield opened
    opened.close()


class TestSpecFuzz:
    def test_round_trip_of_the_writer(self) -> None:
        """The fuzz's TOML writer reproduces the shipped spec (so broken specs are broken on purpose)."""
        assert BASE == tomllib.loads(to_toml(BASE))

    @FUZZ
    @given(data=broken_specs(), serial=st.uuids())
    def test_broken_specs_are_refused_with_one_line(self, engine: Engine, data: dict[str, Any], serial: Any) -> None:
        """A broken spec is refused with one SpecError line; one that parses is proposed or refused cleanly."""
        if data.get("key") == BASE["key"]:
            data["key"] = f"fuzz-{serial}"  # a fresh key, so a Duplicate never hides a later crash
        result = _check_parse(to_toml(data))
        if not isinstance(result, SpecError):
            refusal = ""
            try:
                engine.propose(to_toml(data), on=date(2022, 6, 3))
            except Refusal as error:  # a rule of the engine (never another exception)
                refusal = str(error)
            assert "\n" not in refusal

    @FUZZ
    @given(
        position=st.integers(min_value=0, max_value=len(spec_2022())),
        junk=st.text(text_chars, min_size=1, max_size=20),
        cut=st.booleans(),
    )
    def test_garbled_text_is_refused_with_one_line(self, position: int, junk: str, cut: bool) -> None:
        """Junk inserted anywhere in the file, or the file cut short, never crashes the parser."""
        text = spec_2022()
        garbled = text[:position] + junk + ("" if cut else text[position:])
        _check_parse(garbled)

    @pytest.mark.parametrize(
        "text",
        [
            "a = " + "[" * 5000 + "]" * 5000,
            "a = " + "{b = " * 3000 + "1" + "}" * 3000,
            "[" + ".".join(["t"] * 5000) + "]\n",
            "",
            "\ufeff" + "key = 'x'",
            "key = '" + "x" * 1_000_000 + "'",
        ],
        ids=["deep-arrays", "deep-inline-tables", "long-dotted-table", "empty", "bom", "a-megabyte-key"],
    )
    def test_pathological_documents(self, text: str) -> None:
        """Deep nesting, a long dotted table name, an empty file, a BOM, a huge value: one SpecError line."""
        assert isinstance(_check_parse(text), SpecError)

    @pytest.mark.parametrize("day", ["0001-01-01", "1952-12-31", "2100-01-01", "9999-12-31"])
    def test_dates_outside_the_calendar_are_refused(self, day: str) -> None:
        """A reply date the business calendar cannot roll is refused when parsed, not when a command runs."""
        text = (
            spec_2022().replace("reply_by = 2022-09-30", f"reply_by = {day}").replace("in_force_on = 2023-01-01\n", "")
        )
        result = _check_parse(text)
        assert isinstance(result, SpecError)
        assert "reply_by" == result.field

    @pytest.mark.parametrize("text", INJECTIONS)
    def test_injection_attempts_in_the_title(self, engine: Engine, text: str) -> None:
        """Control characters and line separators are refused; other text is stored as data, verbatim."""
        spec = spec_2022().replace('key = "svom-2022-mini-maria"', f'key = "inj-{INJECTIONS.index(text)}"')
        spec = spec.replace(
            'title = "Mini-Maria Jämtland: inriktningsbeslut och finansiering"', f"title = {toml_string(text)}"
        )
        result = _check_parse(spec)
        if any(ord(c) < 32 or 127 <= ord(c) <= 159 or c in "\u2028\u2029" for c in text):
            assert isinstance(result, SpecError)
            assert "title" == result.field
        else:
            engine.propose(spec, on=date(2022, 6, 3))
            assert text == engine.case(f"inj-{INJECTIONS.index(text)}").spec.title
            assert engine.verify_audit().ok
