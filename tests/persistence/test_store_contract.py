"""The store port, written once and run against SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from beslut.clock import STOCKHOLM
from beslut.errors import ConcurrencyConflict, Duplicate
from beslut.persistence import Store, audit_rows, open_store
from beslut.states import case as domain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.deadlines import Deadline
from beslut.states.spec import parse_spec_text
from tests.conftest import KEY, spec_2022

NOW = datetime(2022, 6, 3, 9, 0, tzinfo=STOCKHOLM)


def _case() -> Case:
    event = domain.propose(parse_spec_text(spec_2022()), on=date(2022, 6, 3), today=date(2022, 6, 3))
    return domain.apply(None, event, BusinessCalendar())


def _deadline(hours: int, kind: str = "reply_by", party: str | None = "2380") -> Deadline:
    return Deadline(recommendation=KEY, kind=kind, party=party, due_at=NOW + timedelta(hours=hours))


class TestCases:
    def test_add_and_load_round_trip(self, store: Store) -> None:
        """A case written is the case read back, dates, parties and spec included."""
        case = _case()
        with store.unit_of_work() as uow:
            uow.add_case(case, now=NOW)
        with store.reader() as reader:
            assert case == reader.load_case(KEY)

    def test_add_twice_is_a_duplicate(self, store: Store) -> None:
        """A second case with the same key is refused and the transaction rolls back."""
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
        before = store.dump()
        with pytest.raises(Duplicate), store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
        assert before == store.dump()

    def test_save_with_a_stale_version_conflicts(self, store: Store) -> None:
        """save_case refuses when the stored version is not the expected one."""
        case = _case()
        with store.unit_of_work() as uow:
            uow.add_case(case, now=NOW)
        with pytest.raises(ConcurrencyConflict), store.unit_of_work() as uow:
            uow.save_case(replace(case, version=3), expected_version=2, now=NOW)

    def test_unknown_case_is_none(self, store: Store) -> None:
        """Loading an unknown key gives None."""
        with store.reader() as reader:
            assert reader.load_case("nope") is None

    def test_a_key_holding_nul_matches_nothing(self, store: Store) -> None:
        """A key holding NUL is simply unknown to every key read, on both stores.

        PostgreSQL cannot even compare such text (its driver raises); SQLite would answer "no row".
        The contract is SQLite's answer, for the readers and the locking load alike.
        """
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
        bad = KEY + "\x00"
        with store.reader() as reader:
            assert reader.load_case(bad) is None
            assert [] == list(reader.audit_records(bad))
            assert [] == reader.deadlines(recommendation=bad)
            assert [] == list(audit_rows(reader, stream=bad))
            assert reader.load_case(KEY) is not None
        with store.unit_of_work() as uow:
            assert uow.load_case_for_update(bad) is None


class TestAuditAppend:
    def test_seq_and_stream_seq_continue(self, store: Store) -> None:
        """Appends continue the global seq and each stream's own stream_seq, chaining the hashes."""
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
            first = uow.append_events(
                [Event(kind="a", stream="s1", valid_on=date(2022, 1, 1), payload={})], recorded_at=NOW
            )
        with store.unit_of_work() as uow:
            more = uow.append_events(
                [
                    Event(kind="b", stream="s2", valid_on=date(2022, 1, 2), payload={"n": 1}),
                    Event(kind="c", stream="s1", valid_on=date(2022, 1, 3), payload={"n": 2}),
                ],
                recorded_at=NOW,
            )
        assert [(1, "s1", 1), (2, "s2", 1), (3, "s1", 2)] == [(r.seq, r.stream, r.stream_seq) for r in first + more]
        assert first[0].hash == more[0].prev_hash

    def test_floats_are_refused(self, store: Store) -> None:
        """A float in a payload never reaches the log."""
        with pytest.raises(TypeError), store.unit_of_work() as uow:
            uow.append_events(
                [Event(kind="a", stream="s", valid_on=date(2022, 1, 1), payload={"x": 0.1})], recorded_at=NOW
            )
        with store.reader() as reader:
            assert [] == list(reader.audit_records())

    def test_instants_round_trip_with_zone(self, store: Store) -> None:
        """An instant given in UTC comes back as the same instant in Stockholm time, to the microsecond."""
        at = datetime(2022, 1, 15, 8, 0, 0, 5, tzinfo=UTC)
        with store.unit_of_work() as uow:
            uow.append_events([Event(kind="a", stream="s", valid_on=date(2022, 1, 1), payload={})], recorded_at=at)
        with store.reader() as reader:
            record = next(reader.audit_records())
        assert "2022-01-15T09:00:00.000005+01:00" == record.recorded_at

    def test_naive_instants_are_refused(self, store: Store) -> None:
        """A naive datetime is never stored."""
        with pytest.raises(ValueError, match=r"aware|naive"), store.unit_of_work() as uow:
            uow.append_events(
                [Event(kind="a", stream="s", valid_on=date(2022, 1, 1), payload={})],
                recorded_at=datetime(2022, 1, 1),
            )


class TestDeadlines:
    def test_sync_inserts_cancels_and_keeps(self, store: Store) -> None:
        """sync_deadlines inserts the wanted, cancels the unwanted pending, and never repeats a done reminder."""
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
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

    def test_a_done_transition_wanted_again_is_pending_again(self, store: Store) -> None:
        """A transition that fired and is wanted again (a decision annulled after the party was overdue) is re-armed."""
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.unit_of_work() as uow:
            (fired,) = uow.due_deadlines(NOW + timedelta(hours=1), limit=10)
            uow.close_deadline(fired.id, status="done", now=NOW)
            uow.sync_deadlines(KEY, [], now=NOW)
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.reader() as reader:
            rows = [(d.kind, d.status) for d in reader.deadlines(recommendation=KEY)]
        assert [("reply_by", "done"), ("reply_by", "pending")] == rows

    def test_due_in_order_and_limited(self, store: Store) -> None:
        """due_deadlines gives pending rows due by now, oldest first, at most the limit."""
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
            uow.sync_deadlines(KEY, [_deadline(5), _deadline(1, party="2309"), _deadline(3, party="2321")], now=NOW)
            due = uow.due_deadlines(NOW + timedelta(hours=4), limit=1)
            assert ["2309"] == [d.party for d in due]
            assert ["2309", "2321"] == [d.party for d in uow.due_deadlines(NOW + timedelta(hours=4), limit=10)]

    def test_due_at_keeps_its_instant(self, store: Store) -> None:
        """A deadline's due_at comes back aware and equal to what was written."""
        with store.unit_of_work() as uow:
            uow.add_case(_case(), now=NOW)
            uow.sync_deadlines(KEY, [_deadline(1)], now=NOW)
        with store.reader() as reader:
            (row,) = reader.deadlines()
        assert (NOW + timedelta(hours=1), "Europe/Stockholm") == (row.due_at, str(row.due_at.tzinfo))


class TestSchema:
    def test_create_schema_is_idempotent(self, store_url: str) -> None:
        """Creating the schema twice creates it once and changes nothing the second time."""
        store = open_store(store_url)
        try:
            assert store.create_schema()
            before = store.dump()
            assert not store.create_schema()
            assert before == store.dump()
            assert store.is_initialised()
        finally:
            store.close()
