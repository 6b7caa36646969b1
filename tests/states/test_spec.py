"""The spec parser: the shipped examples parse, round-trip, and every kind of error names its field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beslut.errors import SpecError
from beslut.states.spec import parse_spec, parse_spec_text, spec_to_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = (EXAMPLES / "mini-maria-2022.toml").read_text(encoding="utf-8")


def _edit(pattern: str, replacement: str, text: str = BASE) -> str:
    edited, count = re.subn(pattern, lambda _: replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    return edited


class TestExamples:
    @pytest.mark.parametrize("name", ["mini-maria-2022.toml", "mini-maria-2025.toml"])
    def test_example_round_trips(self, name: str) -> None:
        """spec_to_data gives data that parse_spec reads back to the same spec."""
        spec = parse_spec_text((EXAMPLES / name).read_text(encoding="utf-8"))
        assert spec == parse_spec(spec_to_data(spec))

    def test_example_fields(self) -> None:
        """The 2022 example has the nine parties, the unanimous policy and the real reply date."""
        spec = parse_spec_text(BASE)
        assert 9 == len(spec.parties)
        assert "unanimous" == str(spec.consolidation)
        assert "2022-09-30" == spec.reply_by.isoformat()
        assert "region-jh" == spec.coordinator


ERRORS = [
    ("unknown top-level key", _edit(r"^issuer = .*$", 'issuer = "SVOM"\ncolour = "blue"'), "colour"),
    (
        "unknown party key",
        _edit(r'^deciding_body = "KS"$', 'deciding_body = "KS"\nemail = "x@example.org"'),
        "party[0].email",
    ),
    ("unknown party in a pool", _edit(r'"2303"\]', '"2303", "9999"]'), "cost.pool[0].parties"),
    ("shares not summing to 1", _edit(r'share = "0.4925"', 'share = "0.4924"'), "cost.pool"),
    ("missing population", _edit(r"^population = 64324\n", ""), "cost.pool[0].parties"),
    ("bad date", _edit(r"^reply_by = 2022-09-30", 'reply_by = "2022-09-31"'), "reply_by"),
    ("datetime for a date", _edit(r"^reply_by = 2022-09-30", "reply_by = 2022-09-30T10:00:00"), "reply_by"),
    ("float total", _edit(r'^total = "5000000"', "total = 5000000.0"), "cost.total"),
    ("bad unit", _edit(r'^unit = "1"', 'unit = "0.5"'), "cost.unit"),
    ("total not whole units", _edit(r'^total = "5000000"', 'total = "5000000.5"'), "cost.total"),
    ("bad policy", _edit(r'^consolidation = "unanimous"', 'consolidation = "most"'), "consolidation"),
    ("quorum too big", _edit(r'^consolidation = "unanimous"', 'consolidation = "quorum:10"'), "consolidation"),
    ("coordinator not a party", _edit(r'^coordinator = "region-jh"', 'coordinator = "skr"'), "coordinator"),
    ("duplicate party", _edit(r'^key = "2309"', 'key = "2380"'), "party[1].key"),
    ("bad key", _edit(r'^key = "svom-2022-mini-maria"', 'key = "SVOM 2022"'), "key"),
    ("missing title", _edit(r"^title = .*\n", ""), "title"),
    ("control characters", _edit(r"^title = .*$", 'title = "a\\u0007b"'), "title"),
    ("line feed in the title", _edit(r"^title = .*$", 'title = "a\\nb"'), "title"),
    ("tab in the title", _edit(r"^title = .*$", 'title = "a\\tb"'), "title"),
    ("line feed in a party name", _edit(r'^name = "Östersunds kommun"$', 'name = "Östersunds\\nkommun"'), "party[0].name"),
    ("tab in a party name", _edit(r'^name = "Östersunds kommun"$', 'name = "Östersunds\\tkommun"'), "party[0].name"),
    ("negative population", _edit(r"^population = 64324", "population = -1"), "party[0].population"),
    ("bad reminder", _edit(r'^overdue_every = "P7D"', 'overdue_every = "weekly"'), "reminders.overdue_every"),
    ("in force before reply", _edit(r"^in_force_on = 2023-01-01", "in_force_on = 2022-01-01"), "in_force_on"),
    (
        "self supersede",
        _edit(r"^in_force_on = 2023-01-01", 'in_force_on = 2023-01-01\nsupersedes = "svom-2022-mini-maria"'),
        "supersedes",
    ),
    ("malformed TOML", BASE + "\n[[party]\n", "(file)"),
    ("no parties", BASE[: BASE.index("[[party]]")], "party"),
]


class TestErrors:
    @pytest.mark.parametrize(("text", "field"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
    def test_error_names_the_field(self, text: str, field: str) -> None:
        """An invalid spec is refused with a SpecError naming the field."""
        with pytest.raises(SpecError) as refused:
            parse_spec_text(text)
        assert field == refused.value.field
        assert f"spec field {field!r}" in str(refused.value)

    def test_integer_total_is_accepted(self) -> None:
        """An integer total is exact, so it is accepted like a decimal string."""
        spec = parse_spec_text(_edit(r'^total = "5000000"', "total = 5000000"))
        assert spec.cost is not None
        assert "5000000" == str(spec.cost.total)

    def test_party_reply_by_overrides(self) -> None:
        """A party may carry its own reply date (a late joiner's window)."""
        spec = parse_spec_text(_edit(r'^deciding_body = "KS"$', 'deciding_body = "KS"\nreply_by = 2022-10-14'))
        party = spec.party("2380")
        assert party is not None
        assert "2022-10-14" == str(party.reply_by)
