"""The header's words for who is signed in: role, a clerk's party, the token's id; never the secret."""

from __future__ import annotations

from datetime import UTC, datetime

from beslut.persistence.abc import ApiToken
from beslut.web.signed_in import signed_in_as


def test_a_stored_token_is_named_by_role_party_and_id() -> None:
    token = ApiToken(
        id="tok-7", token_sha256="0" * 64, role="clerk", party="2380", label=None, created_at=datetime.now(UTC)
    )
    assert "handläggare för 2380 (nyckel tok-7)" == signed_in_as(token)
    assert "0" * 64 not in signed_in_as(token)


def test_a_principal_without_an_id_or_with_an_unknown_role() -> None:
    assert "samordnare" == signed_in_as({"role": "coordinator"})
    assert "inspector" == signed_in_as({"role": "inspector"})
    assert "okänd roll" == signed_in_as(object())
