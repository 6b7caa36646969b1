"""Schemathesis hooks for tests/api/test_openapi_checkers.py: legal dates, so fuzzed writes get through.

Loaded by the schemathesis process (``hooks`` in the generated config), never by pytest. A body's
``on`` that is a real date is moved to today (BESLUT_FUZZ_TODAY), the only legal date that is
never in the future nor before the recommendation's last step; anything else (a number, a malformed
string) is left as generated, so negative cases stay negative.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Any

import schemathesis

TODAY = os.environ["BESLUT_FUZZ_TODAY"]
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    """Today for a well-formed legal date (the rest as generated)."""
    del context
    if isinstance(body, dict) and isinstance(body.get("on"), str) and DATE.match(body["on"]):
        try:
            date.fromisoformat(body["on"])
        except ValueError:
            return body  # not a date: a negative case, kept negative
        body["on"] = TODAY
    return body
