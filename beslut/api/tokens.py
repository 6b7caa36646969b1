"""API tokens: issue, list, revoke and check them, with only a hash ever stored.

A token is 32 random bytes from :func:`secrets.token_urlsafe`, shown to whoever creates
it once and never again: the database keeps its SHA-256. A plain (unsalted) SHA-256 is
enough here, unlike for passwords, because the secret has 256 bits of entropy: there is
nothing to guess. Checking looks the hash up by its unique index and then compares
digests with :func:`hmac.compare_digest`, so the comparison itself takes the same time
however many characters match.

A token carries one role; a ``clerk`` token also names the one party it may act for.
The id (12 hex characters) is what the audit log records as the actor, ``token:<id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final

from beslut.errors import InvalidInput, NotFound, RuleViolation
from beslut.persistence import Store
from beslut.workflow.ports import ApiToken, Reader

ROLES: Final = ("clerk", "coordinator", "auditor", "admin")
TOKEN_BYTES: Final = 32
MAX_LABEL = 200


def digest(secret: str) -> str:
    """The SHA-256 of a token's secret, in hex: what the database stores."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue(store: Store, *, role: str, party: str | None, label: str | None, now: datetime) -> tuple[ApiToken, str]:
    """Create a token; return its stored record and the secret (to be shown once, then forgotten).

    Raises:
        InvalidInput: an unknown role, a clerk without a party, a party on another role, a bad label.
        NotFound: the party is not a party of any recommendation in the database.
    """
    if role not in ROLES:
        raise InvalidInput(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "clerk" and not party:
        raise InvalidInput("a clerk token needs --party: the one party it may act for")
    if role != "clerk" and party is not None:
        raise InvalidInput(f"--party only goes with --role clerk, not {role}")
    if label is not None and (len(label) > MAX_LABEL or not label.isprintable()):
        raise InvalidInput(f"--label must be at most {MAX_LABEL} printable characters")
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(
        id=secrets.token_hex(6),
        token_sha256=digest(secret),
        role=role,
        party=party,
        label=label,
        created_at=now,
    )
    with store.unit_of_work() as uow:
        if party is not None and party not in uow.known_parties():
            raise NotFound(f"no party {party!r} in any recommendation: propose one that names it first")
        uow.add_api_token(token)
    return token, secret


def tokens(store: Store) -> list[ApiToken]:
    """Every token (revoked ones too), oldest first."""
    with store.reader() as reader:
        return reader.api_tokens()


def revoke(store: Store, token_id: str, *, now: datetime) -> ApiToken:
    """Revoke a token; from now on it is refused (HTTP 401).

    Raises:
        NotFound: no token has that id.
        RuleViolation: it was already revoked.
    """
    with store.unit_of_work() as uow:
        found = next((t for t in uow.api_tokens() if t.id == token_id), None)
        if found is None:
            raise NotFound(f"no API token {token_id!r}")
        if found.revoked_at is not None or not uow.revoke_api_token(token_id, now=now):
            raise RuleViolation(f"API token {token_id!r} was already revoked at {found.revoked_at}")
    return found


def authenticate(store: Store, secret: str) -> ApiToken | None:
    """The unrevoked token whose secret this is, or None (one read transaction of its own)."""
    with store.reader() as reader:
        return authenticate_in(reader, secret)


def authenticate_in(reader: Reader, secret: str) -> ApiToken | None:
    """:func:`authenticate` inside an open read transaction, so a request checks its token and reads in one.

    Never cached: a token revoked a moment ago (by any process) is refused on the next request.
    """
    wanted = digest(secret)
    found = reader.api_token_by_hash(wanted)
    if found is None or found.revoked_at is not None:
        return None
    if not hmac.compare_digest(found.token_sha256, wanted):  # the index found it; compare without early exit
        return None
    return found
