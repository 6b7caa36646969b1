"""The shared spec cache (beslut.states.spec_cache): same-text specs share a parse, and nothing key-specific leaks.

Recommendations proposed from one template differ only in ``key``; the cache is keyed by the rest of
the spec, so these tests pin that a hit is exactly what a fresh parse gives (key included), that a bad
key or ``supersedes == key`` on a hit is refused with the fresh parse's own error, and that two cases
proposed, replayed and loaded from one spec text keep their own keys on both stores.
"""

from __future__ import annotations

import copy
import json
import tomllib
from datetime import date
from typing import Any

import pytest

from beslut.audit.service import replay_store
from beslut.errors import SpecError
from beslut.states import spec_cache
from beslut.states.spec import parse_spec, parse_spec_text, spec_to_data
from beslut.workflow import Engine
from tests.conftest import KEY, spec_2022


def template() -> dict[str, Any]:
    """The 2022 example spec as the log stores it (JSON data)."""
    data: dict[str, Any] = json.loads(json.dumps(spec_to_data(parse_spec_text(spec_2022()))))
    return data


def with_key(data: dict[str, Any], key: object) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    changed["key"] = key
    return changed


def error_of(data: Any) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return str(caught.value)


def test_a_hit_is_a_fresh_parse_with_its_own_key() -> None:
    spec_cache.clear()
    first = spec_cache.parse_spec_data(template())
    second = spec_cache.parse_spec_data(with_key(template(), "another-round"))
    assert first.key == KEY
    assert second.key == "another-round"
    assert second == parse_spec(with_key(template(), "another-round"))
    assert second.parties is first.parties  # the parse was shared, not redone
    assert spec_cache.parse_spec_data(template()) == parse_spec(template())


def test_a_changed_field_is_not_a_hit() -> None:
    spec_cache.clear()
    spec_cache.parse_spec_data(template())
    other = template()
    other["title"] = "Another title"
    other["party"][0]["population"] = 12345
    parsed = spec_cache.parse_spec_data(other)
    assert parsed.title == "Another title"
    assert parsed.parties[0].population == 12345
    assert parsed == parse_spec(other)


@pytest.mark.parametrize("bad_key", ["Upper-Case", "", "a\n", "x" * 101, 7, None, "-dash-first"])
def test_a_bad_key_on_a_hit_gets_the_fresh_parse_error(bad_key: object) -> None:
    spec_cache.clear()
    spec_cache.parse_spec_data(template())  # the rest of the spec is now cached
    data = with_key(template(), bad_key)
    expected = error_of(data)
    with pytest.raises(SpecError) as caught:
        spec_cache.parse_spec_data(data)
    assert str(caught.value) == expected


def test_supersedes_its_own_key_is_refused_on_a_hit() -> None:
    spec_cache.clear()
    superseding = template()
    superseding["supersedes"] = "older-round"
    assert spec_cache.parse_spec_data(superseding).supersedes == "older-round"
    data = with_key(superseding, "older-round")
    expected = error_of(data)
    assert "supersede itself" in expected
    with pytest.raises(SpecError) as caught:
        spec_cache.parse_spec_data(data)
    assert str(caught.value) == expected


def test_non_json_data_is_parsed_in_full() -> None:
    """TOML data (dates as date objects) has no canonical JSON text: parsed, never cached under a twin."""
    spec_cache.clear()
    toml_data = tomllib.loads(spec_2022())
    assert spec_cache.parse_spec_data(toml_data) == parse_spec(toml_data)
    assert spec_cache.parse_spec_json(json.dumps(template())) == parse_spec(template())


def test_the_cache_stays_bounded() -> None:
    spec_cache.clear()
    for number in range(spec_cache.MAX_ENTRIES + 40):
        data = template()
        data["title"] = f"Round {number}"
        spec_cache.parse_spec_data(data)
    assert len(spec_cache._cache) == spec_cache.MAX_ENTRIES


def test_cases_from_one_text_keep_their_own_keys(engine: Engine) -> None:
    """Two proposals of one spec text under two keys: live tables and the replay each keep their key."""
    text = spec_2022()
    engine.propose(text, on=date(2022, 6, 3))
    engine.propose(text.replace(KEY, "second-round", 1), on=date(2022, 6, 3))
    engine.recommend("second-round", on=date(2022, 6, 3))
    spec_cache.clear()  # the replay parses afresh, then shares
    result = replay_store(engine.store, check=True)
    try:
        statuses = {s["key"]: s["state"] for s in result.statuses}
        assert statuses == {KEY: "proposed", "second-round": "recommended"}
        assert result.differences == []
    finally:
        result.close()
    with engine.store.reader() as reader:
        first, second = reader.load_case(KEY), reader.load_case("second-round")
    assert first is not None
    assert second is not None
    assert (first.spec.key, second.spec.key) == (KEY, "second-round")
    assert first.spec.title == second.spec.title


class _Text(str):
    """A str subclass: JSON-equal to its value, but not JSON-decoded data."""


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (None, float("nan")),  # orjson writes NaN as null
        (None, float("inf")),
        ("2022-09-30", date(2022, 9, 30)),  # orjson writes dates as ISO text
        ("KS", _Text("KS")),
        (1, 1.0),
        (1, True),
        (2**70, str(2**70)),  # past orjson's 64 bits: the json module keys it
    ],
)
def test_values_that_differ_never_share_a_cache_key(one: object, other: object) -> None:
    keys = [spec_cache._cache_key({"field": value}) for value in (one, other)]
    assert keys[0] != keys[1] or keys[0] is None


@pytest.mark.parametrize("value", [None, float("nan"), float("-inf")])
def test_null_and_nan_get_their_own_fresh_parse_errors(value: object) -> None:
    """Whatever was cached before, a population of null, NaN or -inf is refused in a fresh parse's words."""
    spec_cache.clear()
    spec_cache.parse_spec_data(template())
    data = template()
    data["party"][0]["population"] = value
    expected = error_of(data)
    with pytest.raises(SpecError) as caught:
        spec_cache.parse_spec_data(data)
    assert str(caught.value) == expected


def test_the_usual_payload_is_keyed_by_orjson() -> None:
    """The fast key is the one taken for a payload as the log holds it (else the speed-up is gone unnoticed)."""
    assert isinstance(spec_cache._cache_key(template()), bytes)
