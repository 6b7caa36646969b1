"""`contact add` for a party no recommendation names is refused like `token create --party`, on both stores."""

from __future__ import annotations

from tests.cli.helpers import ok, refused


def test_a_contact_for_an_unknown_party_is_refused(recommended: str) -> None:
    result = refused("contact", "add", "2399", "--id", "c-2399", "--email", "x@example.org", db=recommended)
    assert "error: no party '2399' in any recommendation: propose one that names it first" == result.stderr.strip()
    token = refused("token", "create", "--role", "clerk", "--party", "2399", db=recommended)
    assert token.stderr == result.stderr  # the same words for the same mistake


def test_a_contact_for_a_party_or_the_coordinator_is_added(recommended: str) -> None:
    ok("contact", "add", "2380", "--id", "c-2380", "--email", "x@example.org", db=recommended)
    ok("contact", "add", "region-jh", "--id", "c-region", db=recommended)  # the coordinator is a party here too


def test_before_any_recommendation_every_party_is_unknown(db: str) -> None:
    refused("contact", "add", "2380", "--id", "c-2380", db=db)
