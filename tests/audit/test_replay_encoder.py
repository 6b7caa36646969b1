"""The one fast RFC 8785 encoder (beslut.states.audit_chain) gives the `rfc8785` library's bytes, or its refusal.

The writer (`seal`), the reference check (`verify_chain`) and the auditor's streamed
verifier (`ChainChecker`) all use it, so these tests pin it against the library on the
values where the C json encoder and RFC 8785 could part: characters outside the Basic
Multilingual Plane (key order by UTF-16 code units), lone surrogates, control
characters, integers at and beyond ±(2**53 - 1), nesting, and floats (refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from beslut.states.audit_chain import (
    GENESIS_HASH,
    ChainChecker,
    canonical_json,
    compute_hash,
    hash_content,
    is_canonical,
    parse_payload,
    seal,
)

# Text from every plane, surrogates included (st.characters() leaves them out unless asked).
awkward_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=8) | st.sampled_from(
    ["\ue000", "\U0001f600", "\ud800", "a\udfffb", "\x00\x1f\x7f", "\u2028\u2029", '"\\/', "ü", ""]
)
awkward_int = st.integers(-(2**53) + 1, 2**53 - 1) | st.sampled_from(
    [2**53 - 1, -(2**53) + 1, 2**53, -(2**53), 2**64, 10**30]
)
awkward_values = st.recursive(
    st.none() | st.booleans() | awkward_int | awkward_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(awkward_text, children, max_size=4),
    max_leaves=16,
)


def library(value: Any) -> str | type[BaseException]:
    """RFC 8785's text of *value*, or the kind of error the library refuses it with."""
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (TypeError, ValueError) as error:
        return ValueError if isinstance(error, ValueError) else TypeError


def ours(value: Any) -> str | type[BaseException]:
    try:
        return canonical_json(value)
    except (TypeError, ValueError) as error:
        return ValueError if isinstance(error, ValueError) else TypeError


@settings(max_examples=400, deadline=None)
@given(value=awkward_values)
def test_canonical_json_is_rfc8785_or_refuses_alike(value: Any) -> None:
    """Same text as the library, or a refusal where the library refuses."""
    assert ours(value) == library(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # code points say U+E000 first, UTF-16 code units say U+1F600 first
        {"b": [{"z": None, "a": True}], "a": {"y": [], "x": {}}},
        {"ctl": "\x00\x08\t\n\x0c\r\x1f\x7f", "quote": '"\\/', "line": "\u2028"},
        {"max": 2**53 - 1, "min": -(2**53) + 1},
        {"ström": "Åre", "emoji": "\U0001f600"},
    ],
)
def test_awkward_payloads_by_example(value: Any) -> None:
    """A few payloads where a careless fast path would differ, pinned byte for byte."""
    text = canonical_json(value)
    assert text == rfc8785.dumps(value).decode("utf-8")
    parsed, known = parse_payload(text)
    assert parsed == value
    assert is_canonical(text, parsed, known)


@pytest.mark.parametrize("value", [{"n": 2**53}, {"n": -(2**53)}, {"s": "\ud800"}, {1: "key not text"}])
def test_what_rfc8785_refuses_is_refused(value: Any) -> None:
    """Integers beyond the safe range, lone surrogates and keys that are not text have no canonical form."""
    with pytest.raises(ValueError):
        rfc8785.dumps(value)
    with pytest.raises(ValueError):
        canonical_json(value)


def test_floats_are_refused_even_behind_something_the_library_must_decide() -> None:
    """A float is refused wherever it is, also after a key that sends the value to the library."""
    with pytest.raises(TypeError, match="floats"):
        canonical_json({"\U0001f600": None, "": 1e21})
    with pytest.raises(TypeError, match="floats"):
        canonical_json([(1, 0.5)])


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(awkward_text, awkward_values, max_size=5), stream=awkward_text, kind=awkward_text)
def test_compute_hash_hashes_rfc8785_bytes(payload: dict[str, Any], stream: str, kind: str) -> None:
    """The hash assembled around the payload text is the sha256 of the library's bytes of the whole object."""
    if not isinstance(library(payload), str):
        return
    fields: dict[str, Any] = {
        "seq": 12,
        "stream": stream,
        "stream_seq": 3,
        "recorded_at": "2022-09-05T10:00:00.000000+02:00",
        "valid_on": "2022-09-05",
        "kind": kind,
        "payload": canonical_json(payload),
        "prev_hash": GENESIS_HASH,
    }
    try:
        expected = hashlib.sha256(hash_content(**fields)).hexdigest()
    except ValueError:  # a lone surrogate in the stream or kind
        with pytest.raises(ValueError):
            compute_hash(**fields)
        return
    assert compute_hash(**fields) == expected


@settings(max_examples=300, deadline=None)
@given(value=awkward_values)
def test_parse_payload_never_calls_canonical_what_rfc8785_would_not(value: Any) -> None:
    """Whatever the text (canonical, reordered, spaced, escaped), "canonical" only if it is the library's text."""
    texts = {json.dumps(value), json.dumps(value, ensure_ascii=False, separators=(",", ":"))}
    texts.add(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
    for text in texts:
        try:
            parsed, known = parse_payload(text)
        except ValueError:
            continue
        try:
            verdict = is_canonical(text, parsed, known)
        except (TypeError, ValueError):
            assert not isinstance(library(parsed), str)
            continue
        assert verdict == (library(parsed) == text)


def test_the_streamed_check_accepts_a_sealed_awkward_event_and_names_a_respaced_one() -> None:
    """End to end: seal with the fast encoder, check with ChainChecker; a non-canonical payload is named."""
    payload: dict[str, Any] = {"\U0001f600": "x", "\ue000": [2**53 - 1, {"ü": None}], "ctl": "\x01"}
    record = seal(
        seq=1,
        stream="ström-\U0001f600",
        stream_seq=1,
        recorded_at="2022-09-05T10:00:00.000000+02:00",
        valid_on="2022-09-05",
        kind="party.decided",
        payload=payload,
        prev_hash=GENESIS_HASH,
    )
    assert record.payload == rfc8785.dumps(payload).decode("utf-8")
    problem, parsed = ChainChecker().check(record)
    assert (problem, parsed) == (None, payload)
    spaced = record.__class__(**{**record.__dict__, "payload": json.dumps(payload, ensure_ascii=False)})
    assert ChainChecker().check(spaced)[0] == "payload is not in RFC 8785 canonical form"


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1.5}',
        '{"a":-1E5}',
        '{"a":2e5}',
        '{"a":[1,2.5]}',
        '{"a":[2.5]}',
        '{"a":{"b":[0,[-0.0]]}}',
        '{"a":18446744073709551616}',
        '{"a":9007199254740993}',
        '{"a":-0}',
        '{"a":"\\u001F"}',
        '{"a":"\\/"}',
        '{"a":1 }',
        '{"b":1,"a":2}',
        '{"a":1,"a":1}',
        '{"\ue000":2,"\U0001f600":1}',  # code point order; RFC 8785's UTF-16 order is the other
    ],
)
def test_the_orjson_path_never_calls_a_float_or_a_misfit_canonical(text: str) -> None:
    """Floats (in members and in lists), big or negative-zero integers, odd escapes, spaces, disorder: not canonical.

    `parse_payload` parses the usual payload with orjson and calls it canonical when orjson writes the same
    text back; these are the texts where that shortcut could be wrong if its guards were.
    """
    parsed, known = parse_payload(text)
    assert parsed == json.loads(text)
    assert not known
    with contextlib.suppress(TypeError, ValueError):  # refused outright (a float, a big integer): not canonical
        assert not is_canonical(text, parsed, known)


@pytest.mark.parametrize(
    "value",
    [
        {"party": "2380", "paragraph": "§ 164", "n": 2**53 - 1, "m": -(2**53) + 1},
        {"spec": {"share": "0.5075", "parties": ["2380", "2309"], "years": [2022, 2023]}},
        {"ctl": "\x00\x1f\x7f\u2028", "quote": '"\\', "empty": {}, "list": [], "none": None, "t": True},
    ],
)
def test_the_orjson_path_calls_canonical_text_canonical(value: dict[str, Any]) -> None:
    """The usual payloads (decimal strings that look like floats included) are known canonical without the library."""
    text = rfc8785.dumps(value).decode("utf-8")
    parsed, known = parse_payload(text)
    assert parsed == value
    assert known
