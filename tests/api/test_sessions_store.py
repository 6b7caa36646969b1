"""Dashboard sessions in the store (beslut/api/sessions.py over ``dashboard_session``), on both databases.

The clock is the caller's, so the 8-hour lifetime is checked by moving it, not by waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from beslut.api import sessions, tokens
from beslut.clock import STOCKHOLM
from beslut.persistence import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM)


def test_a_session_acts_for_its_token_until_it_expires(store: Store) -> None:
    _token, secret = tokens.issue(store, role="auditor", party=None, label=None, now=T0)
    opened = sessions.open_session(store, secret, now=T0)
    assert opened is not None
    cookie, token = opened
    assert cookie != secret
    with store.reader() as reader:
        assert token == sessions.session_token_in(reader, cookie, now=T0 + timedelta(hours=7, minutes=59))
        assert sessions.session_token_in(reader, cookie, now=T0 + sessions.SESSION_LIFETIME) is None
        assert sessions.session_token_in(reader, secret, now=T0) is None  # a token is no session


def test_an_invalid_token_opens_nothing_and_logout_ends_it(store: Store) -> None:
    _token, secret = tokens.issue(store, role="coordinator", party=None, label=None, now=T0)
    before = store.dump()
    assert sessions.open_session(store, "not-a-token", now=T0) is None
    assert before == store.dump()
    opened = sessions.open_session(store, secret, now=T0)
    assert opened is not None
    assert sessions.close_session(store, opened[0], now=T0 + timedelta(minutes=5))
    assert not sessions.close_session(store, opened[0], now=T0 + timedelta(minutes=6))  # already ended
    with store.reader() as reader:
        assert sessions.session_token_in(reader, opened[0], now=T0 + timedelta(minutes=6)) is None


def test_ended_sessions_are_deleted_at_the_next_sign_in(store: Store) -> None:
    _token, secret = tokens.issue(store, role="admin", party=None, label=None, now=T0)
    first = sessions.open_session(store, secret, now=T0)
    second = sessions.open_session(store, secret, now=T0)
    assert first is not None
    assert second is not None
    sessions.close_session(store, second[0], now=T0 + timedelta(minutes=1))
    sessions.open_session(store, secret, now=T0 + timedelta(hours=9))  # the first expired, the second ended
    remaining = dict(store.dump())["dashboard_session"]
    assert 1 == len(remaining)
    assert tokens.digest(first[0]) not in str(remaining)
