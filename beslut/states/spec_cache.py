"""A bounded cache of parsed specs, shared by recommendations whose specs differ only in their key.

Why: parsing a spec validates every field (parties, dates, cost pools, reminders) and is a visible
share of replaying the audit log and of loading cases. Recommendations are often proposed from one
template (a round of the same agreement to the same parties) so their specs are the same text but for
``key``. The cache is keyed by the spec's canonical JSON *without* its key; a hit checks the key exactly
as :func:`~beslut.states.spec.parse_spec` would and returns the cached spec with this key put in.
Nothing else in a :class:`~beslut.states.spec.RecommendationSpec` depends on the key (the one cross-field
rule, ``supersedes != key``, is checked again on every hit), and the spec is frozen, so sharing its
parts between cases is safe. Anything a hit cannot vouch for is parsed in full, so errors are the same
errors, word for word.

Pure (no I/O) and thread-safe: one lock around the small dictionary.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from beslut.states.spec import KEY_PATTERN, RecommendationSpec, parse_spec

MAX_ENTRIES = 256
"""Distinct spec texts (key aside) kept; the least recently used goes first, so memory stays flat."""

_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

_lock = threading.Lock()
_cache: OrderedDict[str | bytes, RecommendationSpec] = OrderedDict()

# orjson refuses (rather than writes) dates, dataclasses and subclasses of str, int, dict and list with these.
_FAST = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_FAST |= orjson.OPT_PASSTHROUGH_SUBCLASS


def _cache_key(rest: dict[str, Any]) -> str | bytes | None:
    """The text that stands for *rest* in the cache; None when it is not JSON data.

    Two different values must never share a text. orjson is tried first (faster on a spec, and
    keying is paid per proposal a replay reads) and its text is used only when it holds no
    ``null``: orjson writes NaN and infinities as ``null``, so a spec with ``NaN`` where another has
    ``null`` would share a key. Its texts are ``bytes``, the json module's ``str``, so the two never meet.
    ``parse_spec_data`` is given JSON-decoded data (a payload, a stored spec, ``spec_to_data``), where
    the types orjson writes that json would refuse (an ``Enum``, a ``UUID``) do not occur.
    """
    try:
        fast = orjson.dumps(rest, option=_FAST)
    except TypeError:  # orjson.JSONEncodeError is one: a type above, a key not text, an integer past 64 bits
        pass
    else:
        if b"null" not in fast:
            return fast
    try:
        return _ENCODE(rest)
    except (TypeError, ValueError):
        return None


def parse_spec_data(data: Mapping[str, Any]) -> RecommendationSpec:
    """:func:`~beslut.states.spec.parse_spec` for JSON data (a proposal's payload, a stored spec), cached.

    *data* must be JSON-decoded (or :func:`~beslut.states.spec.spec_to_data` output): string keys,
    JSON values. Anything else (a TOML date, a Decimal) is parsed in full, uncached.
    """
    if not isinstance(data, Mapping):
        return parse_spec(data)  # the full parse says what is wrong
    text = _cache_key({name: value for name, value in data.items() if name != "key"})
    if text is None:  # not JSON data: no canonical text to key on
        return parse_spec(data)
    key = data.get("key")
    with _lock:
        template = _cache.get(text)
        if template is not None:
            _cache.move_to_end(text)
    if template is not None:
        if type(key) is str and KEY_PATTERN.fullmatch(key) and key != template.supersedes:
            return template if template.key == key else dataclasses.replace(template, key=key)
        return parse_spec(data)  # raises the very error a fresh parse gives
    spec = parse_spec(data)
    with _lock:
        _cache[text] = spec
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return spec


def parse_spec_json(text: str) -> RecommendationSpec:
    """Parse a spec stored as JSON text (``recommendation.spec``), sharing parses as :func:`parse_spec_data`."""
    return parse_spec_data(json.loads(text))


def clear() -> None:
    """Forget every cached spec (for tests that count parses)."""
    with _lock:
        _cache.clear()
