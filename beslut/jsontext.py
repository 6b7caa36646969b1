"""Indented JSON text for the read models, written by orjson, byte for byte what ``json`` writes.

Why: ``json.dumps(..., indent=2)`` cannot use the standard library's C encoder (it does only compact
output), so the pure-Python encoder took longer to write a large status document than reading the case
from the database, and ``beslut status --json`` of a large database spent most of its time there
(docs/performance.md). orjson writes the same text in a fraction of that time.

"The same text" holds for what the read models in :mod:`beslut.states.views` contain: ``str``, ``int``,
``bool``, ``None``, lists and dicts with string keys (tests/test_jsontext.py checks it over generated
documents, every control character included). orjson refuses what ``json`` would write differently or not
at all (integers past 64 bits, lone surrogates, non-string keys); those fall back to ``json`` itself. It
writes floats differently (``1e+16`` against ``1e16``), so this is not for documents holding floats:
use ``json.dumps`` for those.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["pretty"]


def pretty(document: Any) -> str:
    """``json.dumps(document, ensure_ascii=False, indent=2)`` for a float-free document, only faster."""
    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError: let json write it, or raise its own error
        return json.dumps(document, ensure_ascii=False, indent=2)
