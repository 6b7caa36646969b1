"""The keyset cursor of ``GET /recommendations?limit=…&cursor=…``: where the previous page ended.

A cursor names the last recommendation of a page by its sort key, ``(proposed_on, key)``,
so the next page starts strictly after it however many recommendations were proposed
or closed in between (an offset would skip or repeat some). It is opaque to clients
(URL-safe base64 of a small JSON array) so its form can change without a new contract.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Final

from beslut.api.problems import INVALID, ApiProblem

#: The largest page a client may ask for.
MAX_LIMIT: Final = 1000


def encode_cursor(proposed_on: date, key: str) -> str:
    """The cursor after the recommendation proposed on *proposed_on* with *key*."""
    raw = json.dumps([proposed_on.isoformat(), key], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, str]:
    """The ``(proposed_on, key)`` a cursor names.

    Raises:
        ApiProblem: 422, the cursor was not made by :func:`encode_cursor`.
    """
    refused = ApiProblem(INVALID, f"cursor {cursor!r} is not a cursor this API gave out")
    try:
        pair = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise refused from error
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
        raise refused
    try:
        return date.fromisoformat(pair[0]), pair[1]
    except ValueError as error:
        raise refused from error
