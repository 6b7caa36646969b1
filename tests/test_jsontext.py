"""beslut.jsontext.pretty writes exactly what json.dumps(..., ensure_ascii=False, indent=2) writes.

The CLI's `status --json` bytes are a public contract; orjson only makes them faster, so any document
of the read models' kinds (str, int, bool, None, lists, string-keyed dicts) must come out identical,
every character of every string included, and what orjson refuses must still come out as json writes it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beslut.jsontext import pretty

TEXT = st.text(st.characters(codec="utf-8"), max_size=20) | st.sampled_from(["", "\u2028\u2029", "\x7f\x1f\x00"])
SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | TEXT
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


def expected(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


@given(DOCUMENTS)
def test_float_free_documents_are_written_byte_for_byte_as_json_writes_them(document: Any) -> None:
    assert pretty(document) == expected(document)


def test_every_control_and_ascii_character() -> None:
    text = "".join(chr(code) for code in range(0x80)) + "\u2028\u2029\ufeffåäö\U0001f600"
    document = {"text": text, "keys": {text: [text]}, "empty": [{}, []]}
    assert pretty(document) == expected(document)


@pytest.mark.parametrize(
    "document",
    [2**64, -(2**63) - 1, 10**40, "\ud800", {"a": "x\udfffy"}, {1: "a"}, {None: 1}, [(1, 2)]],
    ids=["u64+1", "i64-1", "bigint", "lone-surrogate", "nested-surrogate", "int-key", "none-key", "tuple"],
)
def test_what_orjson_refuses_or_may_differ_on_falls_back_to_json(document: Any) -> None:
    assert pretty(document) == expected(document)


def test_what_json_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        pretty({"a": object()})
