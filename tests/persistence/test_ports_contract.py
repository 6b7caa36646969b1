"""The store's ports (:mod:`beslut.workflow.ports`), written once and run against SQLite and PostgreSQL.

One test class per concern of :data:`~beslut.workflow.ports.PORTS`. A test named ``test_<method>__<what>``
is about that port method: the autouse fixture below records which port methods a test called and fails
the test if it never called the one its name gives, and :func:`test_every_port_method_is_exercised`
fails if some method of some port has no such test. So a method added to a port needs a contract test.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Any

import pytest

from beslut.clock import STOCKHOLM
from beslut.errors import ConcurrencyConflict, Duplicate
from beslut.persistence import Store, audit_rows, open_store
from beslut.persistence._sql import SqlReader, SqlStore, SqlUnitOfWork
from beslut.persistence.postgres import PostgresStore
from beslut.persistence.sqlite import SQLiteStore
from beslut.states import case as domain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.deadlines import Deadline
from beslut.states.records import Contact, Heartbeat, OutboxEntry
from beslut.states.spec import parse_spec_text
from beslut.workflow.ports import AUDIT_COLUMNS, PORTS, ApiToken, DashboardSession, OverdueParty, port_methods
from tests.conftest import KEY, PARTIES, spec_2022

NOW = datetime(2022, 6, 3, 9, 0, tzinfo=STOCKHOLM)
ALL_METHODS = [name for ports in PORTS.values() for port in ports for name in port_methods(port)]
STORE_METHODS = port_methods(Store)


@pytest.fixture(autouse=True)
def exercised(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[set[str]]:
    """The port methods the test's body called; after it, the one its name gives must be among them.

    Only calls from the test function itself (directly or through what it calls) count, not the fixtures'
    (the ``store`` fixture creates the schema and closes the store for every test).
    """
    called: set[str] = set()
    body = request.function.__code__

    def from_the_body() -> bool:
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            if frame.f_code is body:
                return True
            frame = frame.f_back
        return False

    def recording(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def record(self: object, *args: Any, **kwargs: Any) -> Any:
            if from_the_body():
                called.add(name)
            return method(self, *args, **kwargs)

        return record

    for name in ALL_METHODS:
        owner = SqlReader if hasattr(SqlReader, name) else SqlUnitOfWork
        monkeypatch.setattr(owner, name, recording(name, getattr(owner, name)))
    for name in STORE_METHODS:
        for store_class in (SqlStore, SQLiteStore, PostgresStore):
            if name in vars(store_class):
                monkeypatch.setattr(store_class, name, recording(name, vars(store_class)[name]))
    yield called
    method = _method_of(request.node.originalname)
    if method is not None:
        assert method in called, f"{request.node.originalname} never calls {method}"


def _method_of(test_name: str) -> str | None:
    """``load_case`` for ``test_load_case__unknown_is_none``; None for a test outside the convention."""
    name, separator, _ = test_name.removeprefix("test_").partition("__")
    return name if separator else None


def _case() -> Case:
    event = domain.propose(parse_spec_text(spec_2022()), on=date(2022, 6, 3), today=date(2022, 6, 3))
    return domain.apply(None, event, BusinessCalendar())


def _recommended(case: Case, *, overdue: tuple[str, ...] = ()) -> Case:
    """*case* sent out for decisions (a version later), the parties in *overdue* flagged overdue."""
    parties = tuple(replace(p, overdue=p.key in overdue) for p in case.parties)
    return replace(case, state="recommended", version=case.version + 1, parties=parties)


def _deadline(hours: int, kind: str = "reply_by", party: str | None = "2380") -> Deadline:
    return Deadline(recommendation=KEY, kind=kind, party=party, due_at=NOW + timedelta(hours=hours))


def _event(kind: str = "a", stream: str = "s", **payload: Any) -> Event:
    return Event(kind=kind, stream=stream, valid_on=date(2022, 1, 1), payload=payload)


def _added(store: Store, *cases: Case) -> None:
    with store.unit_of_work() as uow:
        for case in cases or (_case(),):
            uow.add_case(case, now=NOW)


class TestCases:
    port = "cases"

    def test_load_case__round_trip(self, store: Store) -> None:
        """A case written is the case read back, dates, parties and spec included."""
        case = _case()
        _added(store, case)
        with store.reader() as reader:
            assert case == reader.load_case(KEY)

    def test_load_case__unknown_is_none(self, store: Store) -> None:
        """Loading an unknown key gives None."""
        with store.reader() as reader:
            assert reader.load_case("nope") is None

    def test_load_case__a_key_holding_nul_matches_nothing(self, store: Store) -> None:
        """A key holding NUL is simply unknown to every key read, on both stores.

        PostgreSQL cannot even compare such text (its driver raises); SQLite would answer "no row".
        The contract is SQLite's answer, for the readers and the locking load alike.
        """
        _added(store)
        bad = KEY + "\x00"
        with store.reader() as reader:
            assert reader.load_case(bad) is None
            assert [] == list(reader.audit_records(bad))
            assert [] == reader.deadlines(recommendation=bad)
            assert [] == list(audit_rows(reader, stream=bad))
            assert reader.load_case(KEY) is not None
        with store.unit_of_work() as uow:
            assert uow.load_case_for_update(bad) is None

    def test_list_cases__by_proposal_day_then_key(self, store: Store) -> None:
        """Every case, ordered by the day it was proposed, then by key."""
        first = _case()
        later = replace(first, spec=replace(first.spec, key="b-later"), proposed_on=date(2022, 6, 4))
        same_day = replace(first, spec=replace(first.spec, key="a-same-day"))
        _added(store, later, first, same_day)
        with store.reader() as reader:
            assert ["a-same-day", KEY, "b-later"] == [case.key for case in reader.list_cases()]
            assert same_day == reader.list_cases()[0]

    def test_cases_page__filters_pages_and_resumes(self, store: Store) -> None:
        """A page keeps list_cases' order; states, the keyset cursor, offset and limit each narrow it."""
        base = _case()
        cases = [
            replace(base, spec=replace(base.spec, key=f"k{i}"), proposed_on=date(2022, 6, 1 + i)) for i in range(4)
        ]
        _added(store, *cases)
        with store.unit_of_work() as uow:
            uow.save_case(_recommended(cases[2]), expected_version=1, now=NOW)
        with store.reader() as reader:
            assert ["k0", "k1", "k2", "k3"] == [c.key for c in reader.cases_page()]
            assert ["k1", "k2"] == [c.key for c in reader.cases_page(limit=2, offset=1)]
            assert ["k2", "k3"] == [c.key for c in reader.cases_page(after=(date(2022, 6, 2), "k1"))]
            assert ["k2"] == [c.key for c in reader.cases_page(states={"recommended"})]
            assert [] == reader.cases_page(states=set())
            assert cases[1] == reader.cases_page(limit=1, offset=1)[0]

    def test_known_parties__parties_and_coordinators(self, store: Store) -> None:
        """Every party named by some case, and its coordinator."""
        with store.reader() as reader:
            assert set() == reader.known_parties()
        _added(store)
        with store.reader() as reader:
            assert {*PARTIES, "region-jh"} == reader.known_parties()

    def test_recommendation_counts__by_state(self, store: Store) -> None:
        """How many cases each state has; states with none are left out."""
        base = _case()
        _added(store, base, replace(base, spec=replace(base.spec, key="other")))
        with store.unit_of_work() as uow:
            uow.save_case(_recommended(base), expected_version=1, now=NOW)
        with store.reader() as reader:
            assert {"proposed": 1, "recommended": 1} == reader.recommendation_counts()

    def test_overdue_party_count__flagged_parties_of_open_cases(self, store: Store) -> None:
        """Parties flagged overdue, counted only while their case is open for decisions."""
        case = _case()
        _added(store, case)
        flagged = replace(case, parties=tuple(replace(p, overdue=True) for p in case.parties), version=2)
        with store.unit_of_work() as uow:
            uow.save_case(flagged, expected_version=1, now=NOW)
        with store.reader() as reader:
            assert 0 == reader.overdue_party_count()  # still only proposed
        with store.unit_of_work() as uow:
            uow.load_case_for_update(KEY)
            uow.save_case(_recommended(case, overdue=("2380", "2309")), expected_version=2, now=NOW)
        with store.reader() as reader:
            assert 2 == reader.overdue_party_count()

    def test_overdue_parties__past_their_date_undecided(self, store: Store) -> None:
        """Undecided parties whose reply date is before the day asked, by deadline, case, party; limited."""
        case = _case()
        decided = tuple(replace(p, state="decided") if p.key == "2380" else p for p in case.parties)
        _added(store, case)
        with store.unit_of_work() as uow:
            uow.save_case(replace(_recommended(case), parties=decided), expected_version=1, now=NOW)
        deadline = case.parties[0].deadline
        with store.reader() as reader:
            assert [] == reader.overdue_parties(deadline)
            overdue = reader.overdue_parties(deadline + timedelta(days=1))
            limited = reader.overdue_parties(deadline + timedelta(days=1), limit=2)
        expected = sorted(p.key for p in case.parties if p.key != "2380")
        assert [OverdueParty(recommendation=KEY, party=key, deadline=deadline) for key in expected] == overdue
        assert overdue[:2] == limited

    def test_load_case_for_update__loads_and_holds(self, store: Store) -> None:
        """The held case equals the stored one; saving it from the same transaction writes only what changed."""
        case = _case()
        _added(store, case)
        with store.unit_of_work() as uow:
            held = uow.load_case_for_update(KEY)
            assert case == held
            assert held is not None
            changed = replace(held, version=2, parties=(replace(held.parties[0], case_number="KS 2022/1"),))
            changed = replace(changed, parties=(changed.parties[0], *held.parties[1:]))
            uow.save_case(changed, expected_version=1, now=NOW)
        with store.reader() as reader:
            assert changed == reader.load_case(KEY)
        with store.unit_of_work() as uow:
            assert uow.load_case_for_update("nope") is None

    def test_add_case__twice_is_a_duplicate(self, store: Store) -> None:
        """A second case with the same key is refused and the transaction rolls back."""
        _added(store)
        before = store.dump()
        with pytest.raises(Duplicate), store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
        assert before == store.dump()

    def test_save_case__with_a_stale_version_conflicts(self, store: Store) -> None:
        """save_case refuses when the stored version is not the expected one."""
        case = _case()
        _added(store, case)
        with pytest.raises(ConcurrencyConflict), store.unit_of_work() as uow:
            uow.save_case(replace(case, version=3), expected_version=2, now=NOW)

    def test_save_case__writes_the_new_state(self, store: Store) -> None:
        """A saved case reads back as saved, without loading it first in the transaction."""
        case = _case()
        _added(store, case)
        with store.unit_of_work() as uow:
            uow.save_case(_recommended(case, overdue=("2309",)), expected_version=1, now=NOW)
        with store.reader() as reader:
            assert _recommended(case, overdue=("2309",)) == reader.load_case(KEY)


class TestAuditLog:
    port = "audit log"

    def test_audit_rows_as_stored__every_column_in_order(self, store: Store) -> None:
        """The rows as stored, columns in AUDIT_COLUMNS' order, by seq; one stream, several, or after a seq."""
        _added(store)
        with store.unit_of_work() as uow:
            records = uow.append_events([_event("a", "s1"), _event("b", "s2", n=1)], recorded_at=NOW)
        with store.reader() as reader:
            rows = list(reader.audit_rows_as_stored())
            assert [1, 2] == [row[0] for row in rows]
            assert len(AUDIT_COLUMNS) == len(rows[0])
            stored_hash = rows[0][AUDIT_COLUMNS.index("hash")]
            assert records[0].hash == (stored_hash.decode() if isinstance(stored_hash, bytes) else stored_hash)
            assert [2] == [row[0] for row in reader.audit_rows_as_stored(stream="s2")]
            assert [1, 2] == [row[0] for row in reader.audit_rows_as_stored(streams=["s1", "s2"])]
            assert [2] == [row[0] for row in reader.audit_rows_as_stored(after_seq=1)]

    def test_append_events__seq_and_stream_seq_continue(self, store: Store) -> None:
        """Appends continue the global seq and each stream's own stream_seq, chaining the hashes."""
        _added(store)
        with store.unit_of_work() as uow:
            first = uow.append_events([_event("a", "s1")], recorded_at=NOW)
        with store.unit_of_work() as uow:
            more = uow.append_events([_event("b", "s2", n=1), _event("c", "s1", n=2)], recorded_at=NOW)
            assert [] == uow.append_events([], recorded_at=NOW)
        assert [(1, "s1", 1), (2, "s2", 1), (3, "s1", 2)] == [(r.seq, r.stream, r.stream_seq) for r in first + more]
        assert first[0].hash == more[0].prev_hash

    def test_append_events__floats_are_refused(self, store: Store) -> None:
        """A float in a payload never reaches the log."""
        with pytest.raises(TypeError), store.unit_of_work() as uow:
            uow.append_events([_event(x=0.1)], recorded_at=NOW)
        with store.reader() as reader:
            assert [] == list(reader.audit_records())

    def test_append_events__naive_instants_are_refused(self, store: Store) -> None:
        """A naive datetime is never stored."""
        with pytest.raises(ValueError, match=r"aware|naive"), store.unit_of_work() as uow:
            uow.append_events([_event()], recorded_at=datetime(2022, 1, 1))

    def test_audit_records__instants_round_trip_with_zone(self, store: Store) -> None:
        """An instant given in UTC comes back as the same instant in Stockholm time, to the microsecond."""
        at = datetime(2022, 1, 15, 8, 0, 0, 5, tzinfo=UTC)
        with store.unit_of_work() as uow:
            uow.append_events([_event()], recorded_at=at)
        with store.reader() as reader:
            record = next(reader.audit_records())
        assert "2022-01-15T09:00:00.000005+01:00" == record.recorded_at

    def test_audit_records__the_log_or_one_stream_in_seq_order(self, store: Store) -> None:
        """The records read are the records appended, all of them or one stream's, in seq order."""
        with store.unit_of_work() as uow:
            written = uow.append_events([_event("a", "s1"), _event("b", "s2"), _event("c", "s1")], recorded_at=NOW)
        with store.reader() as reader:
            assert written == list(reader.audit_records())
            assert [written[0], written[2]] == list(reader.audit_records("s1"))
            assert [] == list(reader.audit_records("none"))

    def test_audit_head_seq__zero_then_the_last_seq(self, store: Store) -> None:
        """0 for an empty log, then the seq of the last event appended."""
        with store.reader() as reader:
            assert 0 == reader.audit_head_seq()
        with store.unit_of_work() as uow:
            uow.append_events([_event(), _event()], recorded_at=NOW)
            assert 2 == uow.audit_head_seq()
        with store.reader() as reader:
            assert 2 == reader.audit_head_seq()


class TestTimers:
    port = "timers"

    def test_sync_deadlines__inserts_cancels_and_keeps(self, store: Store) -> None:
        """sync_deadlines inserts the wanted, cancels the unwanted pending, and never repeats a done reminder."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1, kind="remind_before"), _deadline(2, party="2309")], now=NOW)
        with store.unit_of_work() as uow:
            first = uow.due_deadlines(NOW + timedelta(hours=1), limit=10)
            assert [("remind_before", "2380")] == [(d.kind, d.party) for d in first]
            uow.close_deadline(first[0].id, status="done", now=NOW)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1, kind="remind_before"), _deadline(3, kind="appeal_ends")], now=NOW)
        with store.reader() as reader:
            rows = [(d.kind, d.party, d.status) for d in reader.deadlines(recommendation=KEY)]
        assert [
            ("remind_before", "2380", "done"),
            ("reply_by", "2309", "cancelled"),
            ("appeal_ends", "2380", "pending"),
        ] == rows

    def test_sync_deadlines__a_done_transition_wanted_again_is_pending_again(self, store: Store) -> None:
        """A transition that fired and is wanted again (a decision annulled after the party was overdue) is re-armed."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.unit_of_work() as uow:
            (fired,) = uow.due_deadlines(NOW + timedelta(hours=1), limit=10)
            uow.close_deadline(fired.id, status="done", now=NOW)
            uow.sync_deadlines(KEY, [], now=NOW)
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.reader() as reader:
            rows = [(d.kind, d.status) for d in reader.deadlines(recommendation=KEY)]
        assert [("reply_by", "done"), ("reply_by", "pending")] == rows

    def test_sync_party_deadlines__only_the_named_parties(self, store: Store) -> None:
        """Named parties' rows become their wanted timers (an empty list cancels); the others stay as they are."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(
                KEY, [_deadline(1), _deadline(2, party="2309"), _deadline(3, party="2321"), _deadline(4, party=None)],
                now=NOW,
            )  # fmt: skip
        with store.unit_of_work() as uow:
            uow.sync_party_deadlines(KEY, {"2380": [], "2309": [_deadline(5, party="2309")]}, now=NOW)
        with store.reader() as reader:
            rows = [(d.party, d.due_at - NOW, d.status) for d in reader.deadlines(recommendation=KEY)]
        hours = timedelta(hours=1)
        assert [
            ("2380", 1 * hours, "cancelled"),
            ("2309", 2 * hours, "cancelled"),
            ("2321", 3 * hours, "pending"),
            (None, 4 * hours, "pending"),
            ("2309", 5 * hours, "pending"),
        ] == rows

    def test_due_deadlines__in_order_and_limited(self, store: Store) -> None:
        """due_deadlines gives pending rows due by now, oldest first, at most the limit."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(5), _deadline(1, party="2309"), _deadline(3, party="2321")], now=NOW)
            due = uow.due_deadlines(NOW + timedelta(hours=4), limit=1)
            assert ["2309"] == [d.party for d in due]
            assert ["2309", "2321"] == [d.party for d in uow.due_deadlines(NOW + timedelta(hours=4), limit=10)]

    def test_deadlines__keep_their_instant_and_filter(self, store: Store) -> None:
        """A deadline's due_at comes back aware and equal to what was written; status and case filter."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1), _deadline(2, party="2309")], now=NOW)
            (first, _) = uow.due_deadlines(NOW + timedelta(hours=2), limit=10)
            uow.close_deadline(first.id, status="cancelled", now=NOW)
        with store.reader() as reader:
            (row, _) = reader.deadlines()
            assert ["2309"] == [d.party for d in reader.deadlines(status="pending")]
            assert [] == reader.deadlines(recommendation="other")
        assert (NOW + timedelta(hours=1), "Europe/Stockholm") == (row.due_at, str(row.due_at.tzinfo))
        assert ("cancelled", NOW) == (row.status, row.closed_at)

    def test_close_deadline__only_a_pending_one(self, store: Store) -> None:
        """A pending timer is closed done; closing it again changes nothing."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.unit_of_work() as uow:
            (row,) = uow.due_deadlines(NOW + timedelta(hours=1), limit=1)
            uow.close_deadline(row.id, status="done", now=NOW)
            uow.close_deadline(row.id, status="cancelled", now=NOW + timedelta(hours=1))
        with store.reader() as reader:
            assert [("done", NOW)] == [(d.status, d.closed_at) for d in reader.deadlines()]

    def test_add_deadline__one_pending_timer(self, store: Store) -> None:
        """add_deadline inserts the next occurrence of a series as a pending timer."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.add_deadline(_deadline(24, kind="remind_overdue"))
        with store.reader() as reader:
            assert [("remind_overdue", "2380", NOW + timedelta(hours=24), "pending")] == [
                (d.kind, d.party, d.due_at, d.status) for d in reader.deadlines()
            ]

    def test_claim_due_deadlines__leases_to_one_worker(self, store: Store) -> None:
        """Due timers are leased oldest first; another worker gets none until the lease runs out; its holder may again."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1), _deadline(2, party="2309"), _deadline(9, party="2321")], now=NOW)
        lease = NOW + timedelta(minutes=5)
        due_by = NOW + timedelta(hours=3)
        with store.unit_of_work() as uow:
            claimed = uow.claim_due_deadlines(due_by, now=NOW, worker="w1", lease_until=lease, limit=10)
        assert ["2380", "2309"] == [d.party for d in claimed]
        with store.unit_of_work() as uow:
            assert [] == uow.claim_due_deadlines(due_by, now=NOW, worker="w2", lease_until=lease, limit=10)
            again = uow.claim_due_deadlines(due_by, now=NOW, worker="w1", lease_until=lease, limit=1)
            assert ["2380"] == [d.party for d in again]
        later = lease + timedelta(seconds=1)
        with store.unit_of_work() as uow:
            taken = uow.claim_due_deadlines(due_by, now=later, worker="w2", lease_until=later, limit=10)
        assert ["2380", "2309"] == [d.party for d in taken]
        with store.reader() as reader:
            assert [("w2", later), ("w2", later), (None, None)] == [
                (d.claimed_by, d.claimed_until) for d in reader.deadlines()
            ]

    def test_deadline_for_update__one_timer_or_none(self, store: Store) -> None:
        """One timer re-read by id in the transaction that fires it; None for an unknown id."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.unit_of_work() as uow:
            (row,) = uow.due_deadlines(NOW + timedelta(hours=1), limit=1)
            assert row == uow.deadline_for_update(row.id)
            assert uow.deadline_for_update(row.id + 100) is None

    def test_later_ladder_rows__counts_the_partys_ladder_in_the_window(self, store: Store) -> None:
        """Pending or done ladder timers of the party due in (after, until]; other kinds and parties do not count."""
        _added(store)
        with store.unit_of_work() as uow:
            uow.sync_deadlines(
                KEY,
                [
                    _deadline(1, kind="remind_before"),
                    _deadline(2, kind="remind_overdue"),
                    _deadline(3, kind="remind_before"),
                    _deadline(2, kind="reply_by"),
                    _deadline(2, kind="remind_before", party="2309"),
                ],
                now=NOW,
            )
        with store.unit_of_work() as uow:
            (last,) = [
                d for d in uow.due_deadlines(NOW + timedelta(hours=3), limit=10) if d.due_at == NOW + timedelta(hours=3)
            ]
            uow.close_deadline(last.id, status="done", now=NOW)
            count = uow.later_ladder_rows(KEY, "2380", after=NOW + timedelta(hours=1), until=NOW + timedelta(hours=3))
            assert 2 == count
            assert 0 == uow.later_ladder_rows(
                KEY, "2380", after=NOW + timedelta(hours=3), until=NOW + timedelta(hours=9)
            )

    def test_oldest_due_timer__the_oldest_pending_due_by_now(self, store: Store) -> None:
        """The due instant of the oldest pending timer due by now; None when none is due."""
        _added(store)
        with store.reader() as reader:
            assert reader.oldest_due_timer(NOW) is None
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(2), _deadline(1, party="2309")], now=NOW)
            (first,) = uow.due_deadlines(NOW + timedelta(hours=1), limit=1)
            uow.close_deadline(first.id, status="done", now=NOW)
        with store.reader() as reader:
            assert reader.oldest_due_timer(NOW + timedelta(hours=1)) is None
            assert NOW + timedelta(hours=2) == reader.oldest_due_timer(NOW + timedelta(hours=5))


def _message(hours: int = 0, *, party: str = "2380", contact: str = "c1", status: str = "queued") -> OutboxEntry:
    return OutboxEntry(
        recommendation=KEY,
        party=party,
        kind="before",
        due_at=NOW + timedelta(hours=hours),
        contact_id=contact,
        status=status,
        details={"n": hours},
    )


def _queued(store: Store, *messages: OutboxEntry) -> None:
    _added(store)
    with store.unit_of_work() as uow:
        uow.queue_messages(list(messages) or [_message()], now=NOW)


class TestOutbox:
    port = "outbox"
    LEASE = NOW + timedelta(minutes=5)

    def test_queue_messages__inserts_once(self, store: Store) -> None:
        """Messages are inserted queued (or as given); one repeating an existing message is ignored."""
        _added(store)
        with store.unit_of_work() as uow:
            assert 0 == uow.queue_messages([], now=NOW)
            assert 2 == uow.queue_messages([_message(0), _message(1, status="skipped")], now=NOW)
        with store.unit_of_work() as uow:
            assert 1 == uow.queue_messages([_message(0), _message(2)], now=NOW)
        with store.reader() as reader:
            rows = reader.outbox()
        assert [("queued", NOW, {"n": 0}), ("skipped", None, {"n": 1}), ("queued", NOW, {"n": 2})] == [
            (r.status, r.next_attempt_at, dict(r.details)) for r in rows
        ]

    def test_outbox__by_due_then_id_filtered_and_limited(self, store: Store) -> None:
        """Rows by due_at then id; of one status; at most the limit."""
        _queued(store, _message(2), _message(1), _message(3, status="skipped"))
        with store.reader() as reader:
            assert [1, 2, 3] == [r.details["n"] for r in reader.outbox()]
            assert [3] == [r.details["n"] for r in reader.outbox(status="skipped")]
            assert [1] == [r.details["n"] for r in reader.outbox(limit=1)]

    def test_outbox_counts__by_status(self, store: Store) -> None:
        """How many messages have each status; statuses with none are left out."""
        _queued(store, _message(1), _message(2), _message(3, status="skipped"))
        with store.reader() as reader:
            assert {"queued": 2, "skipped": 1} == reader.outbox_counts()

    def test_oldest_queued_message__when_it_was_queued(self, store: Store) -> None:
        """When the oldest message still queued was queued; None when none is."""
        _added(store)
        with store.reader() as reader:
            assert reader.oldest_queued_message() is None
        with store.unit_of_work() as uow:
            uow.queue_messages([_message(1)], now=NOW)
            uow.queue_messages([_message(2)], now=NOW + timedelta(hours=1))
        with store.reader() as reader:
            assert NOW == reader.oldest_queued_message()

    def test_claim_outbox__leases_to_one_worker(self, store: Store) -> None:
        """Due messages are leased oldest first, at most the limit; another worker gets none while leased."""
        _queued(store, _message(1), _message(2))
        with store.unit_of_work() as uow:
            claimed = uow.claim_outbox(NOW, worker="w1", lease_until=self.LEASE, limit=1)
        assert [1] == [r.details["n"] for r in claimed]
        with store.unit_of_work() as uow:
            others = uow.claim_outbox(NOW, worker="w2", lease_until=self.LEASE, limit=10)
        assert [2] == [r.details["n"] for r in others]
        with store.unit_of_work() as uow:
            assert [] == uow.claim_outbox(NOW, worker="w3", lease_until=self.LEASE, limit=10)
            later = self.LEASE + timedelta(seconds=1)
            assert 2 == len(uow.claim_outbox(later, worker="w3", lease_until=later, limit=10))

    def test_renew_outbox__only_by_its_holder_before_the_lease_ends(self, store: Store) -> None:
        """The holder extends an unexpired lease; another worker, or a lease run out, is refused."""
        _queued(store)
        with store.unit_of_work() as uow:
            (message,) = uow.claim_outbox(NOW, worker="w1", lease_until=self.LEASE, limit=1)
            longer = self.LEASE + timedelta(minutes=5)
            assert not uow.renew_outbox(message.id, worker="w2", now=NOW, lease_until=longer)
            assert uow.renew_outbox(message.id, worker="w1", now=NOW, lease_until=longer)
            assert not uow.renew_outbox(message.id, worker="w1", now=longer + timedelta(seconds=1), lease_until=longer)

    def test_finish_outbox__sent_or_failed_by_its_holder(self, store: Store) -> None:
        """An attempt is recorded only by the worker holding the message: failed with a retry, then sent."""
        _queued(store)
        retry = NOW + timedelta(hours=1)
        with store.unit_of_work() as uow:
            (message,) = uow.claim_outbox(NOW, worker="w1", lease_until=self.LEASE, limit=1)
            assert not uow.finish_outbox(message.id, worker="w2", sent_at=NOW, error=None, next_attempt_at=None)
            assert uow.finish_outbox(message.id, worker="w1", sent_at=None, error="timeout", next_attempt_at=retry)
        with store.reader() as reader:
            (failed,) = reader.outbox()
        assert ("failed", 1, "timeout", retry, None) == (
            failed.status, failed.attempts, failed.last_error, failed.next_attempt_at, failed.claimed_by
        )  # fmt: skip
        with store.unit_of_work() as uow:
            (again,) = uow.claim_outbox(retry, worker="w1", lease_until=retry + timedelta(minutes=5), limit=1)
            assert uow.finish_outbox(again.id, worker="w1", sent_at=retry, error=None, next_attempt_at=None)
            assert not uow.finish_outbox(again.id, worker="w1", sent_at=retry, error=None, next_attempt_at=None)
        with store.reader() as reader:
            (sent,) = reader.outbox()
        assert ("sent", 2, retry) == (sent.status, sent.attempts, sent.sent_at)

    def test_close_outbox__unsent_by_its_holder(self, store: Store) -> None:
        """The holder closes a message unsent, with its reason and no next attempt; attempts are not counted."""
        _queued(store, _message(1), _message(2))
        with store.unit_of_work() as uow:
            first, second = uow.claim_outbox(NOW, worker="w1", lease_until=self.LEASE, limit=2)
            assert not uow.close_outbox(first.id, worker="w2", now=NOW, status="skipped", reason="decided")
            assert uow.close_outbox(first.id, worker="w1", now=NOW, status="skipped", reason="decided")
            late = self.LEASE + timedelta(seconds=1)
            assert not uow.close_outbox(second.id, worker="w1", now=late, status="failed", reason="no contact")
        with store.reader() as reader:
            rows = reader.outbox()
        assert [("skipped", "decided", None, 0), ("queued", None, NOW, 0)] == [
            (r.status, r.last_error, r.next_attempt_at, r.attempts) for r in rows
        ]

    def test_release_claims__drops_one_workers_leases(self, store: Store) -> None:
        """A stopping worker's leases on pending timers and unsent messages go; others' stay."""
        _queued(store, _message(1), _message(2))
        with store.unit_of_work() as uow:
            uow.sync_deadlines(KEY, [_deadline(0)], now=NOW)
        with store.unit_of_work() as uow:
            uow.claim_outbox(NOW, worker="w1", lease_until=self.LEASE, limit=1)
            uow.claim_outbox(NOW, worker="w2", lease_until=self.LEASE, limit=1)
            uow.claim_due_deadlines(NOW, now=NOW, worker="w1", lease_until=self.LEASE, limit=1)
        with store.unit_of_work() as uow:
            assert 2 == uow.release_claims("w1")
            assert 0 == uow.release_claims("w1")
        with store.reader() as reader:
            assert [None, "w2"] == [r.claimed_by for r in reader.outbox()]
            assert [None] == [d.claimed_by for d in reader.deadlines()]


def _token(token_id: str = "t1", digest: str = "a" * 64, *, minutes: int = 0) -> ApiToken:
    return ApiToken(
        id=token_id,
        token_sha256=digest,
        role="party",
        party="2380",
        label="ks",
        created_at=NOW + timedelta(minutes=minutes),
    )


def _session(session_id: str, digest: str, *, hours: int) -> DashboardSession:
    return DashboardSession(
        id=session_id, session_sha256=digest, token_id="t1", created_at=NOW, expires_at=NOW + timedelta(hours=hours)
    )


class TestDirectory:
    port = "directory"

    def test_put_contact__inserts_or_replaces(self, store: Store) -> None:
        """A contact written reads back; written again under its id, it replaces the old one."""
        with store.unit_of_work() as uow:
            uow.put_contact(Contact(id="c1", party="2380", name="A", email="a@example.org"))
            uow.put_contact(Contact(id="c1", party="2380", name="B", email=None, active=False))
        with store.reader() as reader:
            assert Contact(id="c1", party="2380", name="B", email=None, active=False) == reader.contact("c1")

    def test_contact__one_by_id_or_none(self, store: Store) -> None:
        """One contact by id, active or not; None for an unknown id."""
        with store.unit_of_work() as uow:
            uow.put_contact(Contact(id="c1", party="2380", active=False))
        with store.reader() as reader:
            assert Contact(id="c1", party="2380", active=False) == reader.contact("c1")
            assert reader.contact("c2") is None

    def test_list_contacts__by_party_then_id(self, store: Store) -> None:
        """Every contact, active or not, by party then id."""
        contacts = [
            Contact(id="b", party="2309"),
            Contact(id="a", party="2380", active=False),
            Contact(id="c", party="2309"),
        ]
        with store.unit_of_work() as uow:
            for contact in contacts:
                uow.put_contact(contact)
        with store.reader() as reader:
            assert ["b", "c", "a"] == [c.id for c in reader.list_contacts()]

    def test_contacts_of__a_partys_active_contacts(self, store: Store) -> None:
        """Only the party's active contacts, by id."""
        with store.unit_of_work() as uow:
            for contact in (
                Contact(id="z", party="2380"),
                Contact(id="y", party="2380", active=False),
                Contact(id="x", party="2380"),
                Contact(id="w", party="2309"),
            ):
                uow.put_contact(contact)
        with store.unit_of_work() as uow:
            assert ["x", "z"] == [c.id for c in uow.contacts_of("2380")]
            assert [] == uow.contacts_of("2321")

    def test_add_api_token__a_duplicate_id_or_hash_is_refused(self, store: Store) -> None:
        """A token is stored as given; another with the same id or the same hash is a Duplicate."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token())
        for duplicate in (_token("t1", "b" * 64), _token("t2", "a" * 64)):
            with pytest.raises(Duplicate), store.unit_of_work() as uow:
                uow.add_api_token(duplicate)
        with store.reader() as reader:
            assert [_token()] == reader.api_tokens()

    def test_api_tokens__by_creation_then_id(self, store: Store) -> None:
        """Every token, revoked ones too, by creation time then id."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token("t3", "c" * 64, minutes=1))
            uow.add_api_token(_token("t2", "b" * 64))
            uow.add_api_token(_token("t1", "a" * 64))
            uow.revoke_api_token("t2", now=NOW)
        with store.reader() as reader:
            assert ["t1", "t2", "t3"] == [token.id for token in reader.api_tokens()]

    def test_api_token_by_hash__revoked_or_not(self, store: Store) -> None:
        """The token whose secret has that hash, revoked or not; None for an unknown hash."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token())
            uow.revoke_api_token("t1", now=NOW)
        with store.reader() as reader:
            assert replace(_token(), revoked_at=NOW) == reader.api_token_by_hash("a" * 64)
            assert reader.api_token_by_hash("b" * 64) is None

    def test_revoke_api_token__once(self, store: Store) -> None:
        """Revoking marks the token at that instant; again, or an unknown token, is False and changes nothing."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token())
        with store.unit_of_work() as uow:
            assert uow.revoke_api_token("t1", now=NOW)
            assert not uow.revoke_api_token("t1", now=NOW + timedelta(hours=1))
            assert not uow.revoke_api_token("nope", now=NOW)
        with store.reader() as reader:
            assert [NOW] == [token.revoked_at for token in reader.api_tokens()]

    def test_add_session__stored_by_hash_and_ended_ones_purged(self, store: Store) -> None:
        """A session is kept by its secret's hash; adding one deletes the sessions that ended before *now*."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token())
            uow.add_session(_session("s1", "1" * 64, hours=8), now=NOW)
            uow.add_session(_session("s2", "2" * 64, hours=1), now=NOW)
        with store.unit_of_work() as uow:
            uow.add_session(_session("s3", "3" * 64, hours=8), now=NOW + timedelta(hours=2))  # s2 expired
        with store.reader() as reader:
            assert reader.session_by_hash("2" * 64) is None
            assert reader.session_by_hash("1" * 64) is not None
            assert reader.session_by_hash("3" * 64) is not None

    def test_session_by_hash__with_its_token(self, store: Store) -> None:
        """The session with that hash and the token it was opened with; None for an unknown hash."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token())
            uow.add_session(_session("s1", "1" * 64, hours=8), now=NOW)
        with store.reader() as reader:
            assert (_session("s1", "1" * 64, hours=8), _token()) == reader.session_by_hash("1" * 64)
            assert reader.session_by_hash("9" * 64) is None

    def test_revoke_session__once(self, store: Store) -> None:
        """Ending a session marks it at that instant; again, or an unknown one, is False."""
        with store.unit_of_work() as uow:
            uow.add_api_token(_token())
            uow.add_session(_session("s1", "1" * 64, hours=8), now=NOW)
        with store.unit_of_work() as uow:
            assert uow.revoke_session("1" * 64, now=NOW + timedelta(minutes=5))
            assert not uow.revoke_session("1" * 64, now=NOW + timedelta(minutes=6))
            assert not uow.revoke_session("9" * 64, now=NOW)
        with store.reader() as reader:
            found = reader.session_by_hash("1" * 64)
            assert found is not None
            assert NOW + timedelta(minutes=5) == found[0].revoked_at


def _heartbeat(daemon: str, minutes: int, **fields: Any) -> Heartbeat:
    started = NOW - timedelta(hours=1)
    return Heartbeat(
        daemon_id=daemon,
        hostname="h",
        pid=7,
        started_at=started,
        last_tick_at=NOW + timedelta(minutes=minutes),
        **fields,
    )


class TestHeartbeats:
    port = "heartbeats"

    def test_beat__writes_or_replaces_a_daemons_row(self, store: Store) -> None:
        """A heartbeat reads back as written, every field; a later one of the same daemon replaces it."""
        with store.unit_of_work() as uow:
            uow.beat(_heartbeat("d1", 0))
        with store.unit_of_work() as uow:
            uow.beat(
                _heartbeat(
                    "d1", 1, last_tick_handled=3, last_delivered=2, last_tick_seconds=0.5, last_tick_lag_seconds=1.25
                )
            )
        with store.reader() as reader:
            assert [
                _heartbeat(
                    "d1", 1, last_tick_handled=3, last_delivered=2, last_tick_seconds=0.5, last_tick_lag_seconds=1.25
                )
            ] == reader.heartbeats()

    def test_heartbeats__most_recent_tick_first(self, store: Store) -> None:
        """Every daemon's heartbeat, the most recent tick first."""
        with store.reader() as reader:
            assert [] == reader.heartbeats()
        with store.unit_of_work() as uow:
            for daemon, minutes in (("d1", 1), ("d2", 3), ("d3", 2)):
                uow.beat(_heartbeat(daemon, minutes))
        with store.reader() as reader:
            assert ["d2", "d3", "d1"] == [beat.daemon_id for beat in reader.heartbeats()]


class TestStore:
    port = "store"

    def test_create_schema__is_idempotent(self, store_url: str) -> None:
        """Creating the schema twice creates it once and changes nothing the second time."""
        store = open_store(store_url)
        try:
            assert store.create_schema()
            before = store.dump()
            assert not store.create_schema()
            assert before == store.dump()
        finally:
            store.close()

    def test_is_initialised__once_the_schema_exists(self, store_url: str) -> None:
        """False on an empty database, True once the schema is created."""
        store = open_store(store_url)
        try:
            assert not store.is_initialised()
            store.create_schema()
            assert store.is_initialised()
        finally:
            store.close()

    def test_unit_of_work__commits_or_rolls_back_whole(self, store: Store) -> None:
        """A block that ends normally commits everything; one that raises leaves the database as it was."""
        before = store.dump()

        def add_then_fail() -> None:
            with store.unit_of_work() as uow:
                uow.add_case(_case(), now=NOW)
                uow.append_events([_event()], recorded_at=NOW)
                raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            add_then_fail()
        assert before == store.dump()
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
            uow.append_events([_event()], recorded_at=NOW)
        assert before != store.dump()

    def test_reader__a_snapshot_that_writes_nothing(self, store: Store) -> None:
        """A reader sees what was committed and leaves the database as it was."""
        _added(store)
        before = store.dump()
        with store.reader() as reader:
            assert [KEY] == [case.key for case in reader.list_cases()]
        assert before == store.dump()

    def test_readiness_problem__none_when_ready(self, store_url: str) -> None:
        """A database without the schema has a problem to report; with it, there is none."""
        store = open_store(store_url)
        try:
            assert store.readiness_problem() is not None  # no file (SQLite) or no schema (PostgreSQL)
            store.create_schema()
            assert store.readiness_problem() is None
        finally:
            store.close()

    def test_dump__every_table_in_order(self, store: Store) -> None:
        """Every table by name, its rows in key order: equal dumps for equal data, different after a write."""
        empty = store.dump()
        assert {"recommendation", "party_decision", "audit_event", "deadline", "outbox"} <= {name for name, _ in empty}
        _added(store)
        dumped = dict(store.dump())
        assert len(PARTIES) == len(dumped["party_decision"])
        assert dumped == dict(store.dump())

    def test_close__releases_the_connections(self, store_url: str) -> None:
        """A closed store can be closed again; a store opened anew on the same database sees its data."""
        store = open_store(store_url)
        store.create_schema()
        _added(store)
        store.close()
        store.close()
        again = open_store(store_url)
        try:
            with again.reader() as reader:
                assert reader.load_case(KEY) is not None
        finally:
            again.close()


CONTRACT_CLASSES: dict[str, type] = {
    cls.port: cls for cls in (TestCases, TestAuditLog, TestTimers, TestOutbox, TestDirectory, TestHeartbeats, TestStore)
}


def test_every_port_method_is_exercised() -> None:
    """Each concern (and the Store) has its class, and each method of its ports a ``test_<method>__…`` there."""
    by_port = CONTRACT_CLASSES
    assert {*PORTS, "store"} == set(by_port)
    missing = []
    for concern, ports in [*PORTS.items(), ("store", (Store,))]:
        tests = {_method_of(name) for name in vars(by_port[concern]) if name.startswith("test_")}
        missing += [f"{port.__name__}.{name}" for port in ports for name in port_methods(port) if name not in tests]
    assert [] == missing


def test_the_ports_compose_reader_and_unit_of_work() -> None:
    """Reader is every concern's reads, UnitOfWork adds every concern's writes: nothing outside a port."""
    from beslut.workflow.ports import Reader, UnitOfWork  # noqa: PLC0415

    def members(cls: type) -> set[str]:
        return {
            name for klass in cls.__mro__ if klass.__module__ == "beslut.workflow.ports" for name in port_methods(klass)
        }

    reads = {name for ports in PORTS.values() for name in port_methods(ports[0])}
    assert reads == members(Reader)
    assert set(ALL_METHODS) == members(UnitOfWork)
    assert len(ALL_METHODS) == len(set(ALL_METHODS))
