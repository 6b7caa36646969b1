"""Who is signed in, in words for the page header: the token's role (and party), its id, never a secret.

Why its own function: the dashboard accepts any valid token, and a coordinator who shares a
screen, or holds several tokens, must see which one the page is read with. A token is shown by
its id and role (and a clerk's party); the secret never leaves the sign-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

ROLES: Final = {
    "admin": "administratör",
    "coordinator": "samordnare",
    "clerk": "handläggare",
    "auditor": "granskare",
}


def _field(principal: object, name: str) -> str | None:
    value = principal.get(name) if isinstance(principal, Mapping) else getattr(principal, name, None)
    return value if isinstance(value, str) and value else None


def signed_in_as(principal: object) -> str:
    """``samordnare (nyckel tok-1)``, ``handläggare för 2380 (nyckel tok-2)``: the header's words."""
    role = _field(principal, "role")
    words = ROLES.get(role, role) if role is not None else "okänd roll"
    party = _field(principal, "party")
    if party is not None:
        words += f" för {party}"
    token = _field(principal, "id")
    return f"{words} (nyckel {token})" if token is not None else words
