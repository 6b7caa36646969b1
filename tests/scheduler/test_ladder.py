"""The reminder ladder on the Swedish business calendar, fired by `tick` with a controlled clock.

Exact due instants for the 2022 case, a reply date on a Saturday and on midsommarafton, the summer-time
changes, coalescing after downtime, what a decision, a withdrawal or a consolidation cancels, and who
receives each message. Every test runs on SQLite and on PostgreSQL (the ``engine`` fixture); the clock is
always set just after the instant being ticked, since tick refuses an instant in the future.
"""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta

import pytest
import structlog

from beslut.clock import STOCKHOLM, FixedClock
from beslut.scheduler.notifiers import LogNotifier
from beslut.scheduler.outbox import OutboxDelivery
from beslut.states.records import Contact
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES, spec_2022

PARTY = "2380"  # Östersund: the party whose ladder the tests follow
OTHER = "2309"  # Krokom
COORDINATOR = "region-jh"

Row = tuple[str, str, str, str, str]  # kind, party, contact, due_at (Stockholm, with offset), status


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant in Europe/Stockholm local time."""
    return datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM)


def iso(instant: datetime) -> str:
    """The instant as Stockholm local time with its UTC offset."""
    return instant.astimezone(STOCKHOLM).isoformat()


def spec_with(reply_by: str, in_force_on: str = "2023-01-01") -> str:
    """The 2022 example spec (reply_by_rolls = true) with another reply date and in-force date."""
    text = spec_2022()
    assert "reply_by_rolls = true" in text
    text = text.replace("reply_by = 2022-09-30", f"reply_by = {reply_by}")
    return text.replace("in_force_on = 2023-01-01", f"in_force_on = {in_force_on}")


def start(engine: Engine, spec: str | None = None, *, open_parties: tuple[str, ...] = (PARTY,)) -> None:
    """Propose and recommend on 2022-06-03; every party not in *open_parties* approves the same day."""
    on = date(2022, 6, 3)
    engine.propose(spec or spec_2022(), on=on)
    engine.recommend(KEY, on=on)
    for party in PARTIES:
        if party not in open_parties:
            engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=on)


def timers(engine: Engine, party: str = PARTY, status: str | None = "pending") -> list[tuple[str, str]]:
    """The party's timers of one status as sorted (kind, due_at) pairs."""
    return sorted((d.kind, iso(d.due_at)) for d in engine.deadlines(status=status, key=KEY) if d.party == party)


def rows(engine: Engine) -> list[Row]:
    """The outbox in order, as (kind, party, contact, due_at, status)."""
    return [(o.kind, o.party, o.contact_id, iso(o.due_at), o.status) for o in engine.outbox()]


def tick_at(engine: Engine, clock: FixedClock, instant: datetime) -> list[Row]:
    """Tick at *instant* with the clock half a minute later; return the outbox rows the tick added."""
    before = {o.id for o in engine.outbox()}
    clock.set(instant + timedelta(seconds=30))
    engine.tick(instant)
    return [(o.kind, o.party, o.contact_id, iso(o.due_at), o.status) for o in engine.outbox() if o.id not in before]


def contacts(engine: Engine, *pairs: tuple[str, str]) -> None:
    """Add an active contact per (id, party)."""
    for contact_id, party in pairs:
        engine.add_contact(Contact(id=contact_id, party=party, name=f"Handläggare {contact_id}"))


class TestLadder:
    def test_full_ladder_one_message_per_instant(self, engine: Engine, clock: FixedClock) -> None:
        """14 and 7 days ahead, then weekly from the end of the reply date, escalated 14 days after it: one tick each."""
        start(engine)
        assert [
            ("escalate", "2022-10-15T00:00:00+02:00"),
            ("remind_before", "2022-09-16T00:00:00+02:00"),
            ("remind_before", "2022-09-23T00:00:00+02:00"),
            ("remind_overdue", "2022-10-01T00:00:00+02:00"),
            ("reply_by", "2022-10-01T00:00:00+02:00"),
        ] == timers(engine)
        contacts(engine, ("c-2380", PARTY), ("c-region", COORDINATOR))
        ladder = [
            ("2022-09-16T00:00:00+02:00", [("before", "c-2380")]),
            ("2022-09-23T00:00:00+02:00", [("before", "c-2380")]),
            ("2022-10-01T00:00:00+02:00", [("overdue", "c-2380")]),
            ("2022-10-08T00:00:00+02:00", [("overdue", "c-2380")]),
            ("2022-10-15T00:00:00+02:00", [("escalation", "c-region"), ("overdue", "c-2380")]),
            ("2022-10-22T00:00:00+02:00", [("overdue", "c-2380")]),
            ("2022-10-29T00:00:00+02:00", [("overdue", "c-2380")]),
            ("2022-11-05T00:00:00+01:00", [("overdue", "c-2380")]),
            ("2022-11-12T00:00:00+01:00", [("overdue", "c-2380")]),
            ("2022-11-19T00:00:00+01:00", [("overdue", "c-2380")]),
            ("2022-11-26T00:00:00+01:00", [("overdue", "c-2380")]),
        ]
        for due, messages in ladder:
            instant = datetime.fromisoformat(due)
            assert [] == tick_at(engine, clock, instant - timedelta(minutes=1)), due
            assert (instant > local(2022, 10, 1)) == engine.case(KEY).party(PARTY).overdue
            added = tick_at(engine, clock, instant)
            assert [(kind, PARTY, contact, due, "queued") for kind, contact in messages] == sorted(added), due
            assert (instant >= local(2022, 10, 1)) == engine.case(KEY).party(PARTY).overdue
        assert [] == engine.outbox(status="skipped")
        assert [("remind_overdue", "2022-12-03T00:00:00+01:00")] == timers(engine)


class TestRolledReplyDate:
    @pytest.mark.parametrize(
        ("reply_by", "rolled", "expected"),
        [
            pytest.param(
                "2022-10-01",
                date(2022, 10, 3),
                [
                    ("escalate", "2022-10-18T00:00:00+02:00"),
                    ("remind_before", "2022-09-19T00:00:00+02:00"),
                    ("remind_before", "2022-09-26T00:00:00+02:00"),
                    ("remind_overdue", "2022-10-04T00:00:00+02:00"),
                    ("reply_by", "2022-10-04T00:00:00+02:00"),
                ],
                id="saturday",
            ),
            pytest.param(
                "2022-06-24",
                date(2022, 6, 27),
                [
                    ("escalate", "2022-07-12T00:00:00+02:00"),
                    ("remind_before", "2022-06-13T00:00:00+02:00"),
                    ("remind_before", "2022-06-20T00:00:00+02:00"),
                    ("remind_overdue", "2022-06-28T00:00:00+02:00"),
                    ("reply_by", "2022-06-28T00:00:00+02:00"),
                ],
                id="midsommarafton",
            ),
        ],
    )
    def test_ladder_counts_from_the_rolled_date(
        self, engine: Engine, clock: FixedClock, reply_by: str, rolled: date, expected: list[tuple[str, str]]
    ) -> None:
        """A reply date on a non-working day rolls to the next working day, and the whole ladder with it."""
        start(engine, spec_with(reply_by))
        assert rolled == engine.case(KEY).party(PARTY).deadline
        assert expected == timers(engine)

        given = date.fromisoformat(reply_by)
        end_of_given = local(given.year, given.month, given.day) + timedelta(days=1)
        tick_at(engine, clock, end_of_given)  # the unrolled end of the day: nothing is late yet
        assert not engine.case(KEY).party(PARTY).overdue
        assert [] == [r for r in rows(engine) if r[0] == "overdue"]

        first_overdue = dict(expected)["remind_overdue"]
        overdue_at = datetime.fromisoformat(first_overdue)
        assert [] == tick_at(engine, clock, overdue_at - timedelta(minutes=1))
        assert [("overdue", PARTY, "", first_overdue, "queued")] == tick_at(engine, clock, overdue_at)
        assert engine.case(KEY).party(PARTY).overdue


class TestSummerTime:
    def test_overdue_series_stays_at_midnight_across_the_october_change(
        self, engine: Engine, clock: FixedClock
    ) -> None:
        """The weekly overdue series keeps 00:00 local time when the clocks go back on 30 October 2022."""
        start(engine, spec_with("2022-10-21"))
        queued: list[Row] = []
        for day in (date(2022, 10, 7), date(2022, 10, 14), date(2022, 10, 22), date(2022, 10, 29), date(2022, 11, 5)):
            queued += sorted(tick_at(engine, clock, local(day.year, day.month, day.day)))
        expected = [
            ("before", PARTY, "", "2022-10-07T00:00:00+02:00", "queued"),
            ("before", PARTY, "", "2022-10-14T00:00:00+02:00", "queued"),
            ("overdue", PARTY, "", "2022-10-22T00:00:00+02:00", "queued"),
            ("overdue", PARTY, "", "2022-10-29T00:00:00+02:00", "queued"),
            ("escalation", PARTY, "", "2022-11-05T00:00:00+01:00", "queued"),
            ("overdue", PARTY, "", "2022-11-05T00:00:00+01:00", "queued"),
        ]
        assert expected == queued
        last_two = [o.due_at.astimezone(UTC) for o in engine.outbox() if o.kind == "overdue"][-2:]
        assert [datetime(2022, 10, 28, 22, tzinfo=UTC), datetime(2022, 11, 4, 23, tzinfo=UTC)] == last_two
        assert timedelta(days=7, hours=1) == last_two[1] - last_two[0]  # the week with 25-hour Sunday
        assert [("remind_overdue", "2022-11-12T00:00:00+01:00")] == timers(engine)

    def test_before_reminders_across_the_march_change(self, engine: Engine, clock: FixedClock) -> None:
        """Reminders 14 and 7 days before 3 April 2023 straddle the change to summer time on 26 March."""
        start(engine, spec_with("2023-04-03", in_force_on="2023-06-01"))
        assert [
            ("escalate", "2023-04-18T00:00:00+02:00"),
            ("remind_before", "2023-03-20T00:00:00+01:00"),
            ("remind_before", "2023-03-27T00:00:00+02:00"),
            ("remind_overdue", "2023-04-04T00:00:00+02:00"),
            ("reply_by", "2023-04-04T00:00:00+02:00"),
        ] == timers(engine)
        first = tick_at(engine, clock, local(2023, 3, 20))
        assert [] == tick_at(engine, clock, datetime(2023, 3, 26, 21, 59, tzinfo=UTC))  # 23:59 local, +02:00
        second = tick_at(engine, clock, datetime(2023, 3, 26, 22, 0, tzinfo=UTC))  # 00:00 local, +02:00
        assert [("before", PARTY, "", "2023-03-20T00:00:00+01:00", "queued")] == first
        assert [("before", PARTY, "", "2023-03-27T00:00:00+02:00", "queued")] == second


class TestDowntime:
    def test_only_the_newest_of_each_ladder_is_queued(self, engine: Engine, clock: FixedClock) -> None:
        """After 11 days without a tick past the reply date, each party gets one reminder; the rest are skipped, once."""
        start(engine, open_parties=tuple(PARTIES))
        fired = engine.tick(local(2022, 10, 12))  # the daemon never ran: nothing since the recommendation

        assert 9 == sum(f.messages for f in fired)
        assert 27 == sum(f.skipped for f in fired)
        for party in PARTIES:
            mine = [(kind, due, status) for kind, p, _, due, status in rows(engine) if p == party]
            assert [
                ("before", "2022-09-16T00:00:00+02:00", "skipped"),
                ("before", "2022-09-23T00:00:00+02:00", "skipped"),
                ("overdue", "2022-10-01T00:00:00+02:00", "skipped"),
                ("overdue", "2022-10-08T00:00:00+02:00", "queued"),
            ] == mine, party
            assert [("escalate", "2022-10-15T00:00:00+02:00"), ("remind_overdue", "2022-10-15T00:00:00+02:00")] == (
                timers(engine, party)
            ), party
        assert 27 == len(engine.outbox(status="skipped"))
        assert all(o.next_attempt_at is None and o.sent_at is None for o in engine.outbox(status="skipped"))

        before = engine.store.dump()
        assert [] == engine.tick(local(2022, 10, 12))  # a second tick at the same instant changes nothing
        assert before == engine.store.dump()

    def test_the_series_continues_after_the_newest(self, engine: Engine, clock: FixedClock) -> None:
        """First started on 26 September, then stopped until 20 October: the newest of each stretch is sent."""
        start(engine)
        contacts(engine, ("c-region", COORDINATOR))
        assert [
            ("before", PARTY, "", "2022-09-16T00:00:00+02:00", "skipped"),
            ("before", PARTY, "", "2022-09-23T00:00:00+02:00", "queued"),
        ] == tick_at(engine, clock, local(2022, 9, 26, 8, 0))
        added = tick_at(engine, clock, local(2022, 10, 20, 9, 15))
        assert [
            ("overdue", PARTY, "", "2022-10-01T00:00:00+02:00", "skipped"),
            ("overdue", PARTY, "", "2022-10-08T00:00:00+02:00", "skipped"),
            ("escalation", PARTY, "c-region", "2022-10-15T00:00:00+02:00", "queued"),
            ("overdue", PARTY, "", "2022-10-15T00:00:00+02:00", "queued"),
        ] == sorted(added, key=lambda r: (r[3], r[0]))
        assert [("remind_overdue", "2022-10-22T00:00:00+02:00")] == timers(engine)
        assert [("overdue", PARTY, "", "2022-10-22T00:00:00+02:00", "queued")] == tick_at(
            engine, clock, local(2022, 10, 22)
        )


class TestCancelled:
    def test_a_decision_between_two_reminders_cancels_the_next(self, engine: Engine, clock: FixedClock) -> None:
        """A party deciding after the 14-day reminder gets no 7-day reminder; another party still does."""
        start(engine, open_parties=(PARTY, OTHER))
        assert {("before", PARTY), ("before", OTHER)} == {
            (r[0], r[1]) for r in tick_at(engine, clock, local(2022, 9, 16))
        }
        clock.set(local(2022, 9, 20, 10))
        engine.decide(KEY, PARTY, outcome="approved", paragraph="§ 88", on=date(2022, 9, 20))

        assert [] == timers(engine)
        assert [
            ("escalate", "2022-10-15T00:00:00+02:00"),
            ("remind_before", "2022-09-23T00:00:00+02:00"),
            ("remind_overdue", "2022-10-01T00:00:00+02:00"),
            ("reply_by", "2022-10-01T00:00:00+02:00"),
        ] == timers(engine, status="cancelled")
        assert [("before", OTHER, "", "2022-09-23T00:00:00+02:00", "queued")] == tick_at(
            engine, clock, local(2022, 9, 23)
        )
        tick_at(engine, clock, local(2022, 11, 26))
        assert 1 == len([r for r in rows(engine) if r[1] == PARTY])

    def test_withdrawal_cancels_every_reminder(self, engine: Engine, clock: FixedClock) -> None:
        """A withdrawn recommendation has no pending timer and sends nothing more."""
        start(engine, open_parties=tuple(PARTIES))
        assert 9 == len(tick_at(engine, clock, local(2022, 9, 16)))
        clock.set(local(2022, 9, 20, 10))
        engine.withdraw(KEY, on=date(2022, 9, 20), reason="Nytt underlag tas fram.")

        assert [] == engine.deadlines(key=KEY)
        cancelled = engine.deadlines(status="cancelled", key=KEY)
        assert {"remind_before", "remind_overdue", "escalate", "reply_by"} == {d.kind for d in cancelled}
        assert 9 * 4 == len(cancelled)  # the 7-day reminder, reply_by, overdue and escalation of each party
        assert [] == tick_at(engine, clock, local(2022, 11, 26))

    def test_consolidation_cancels_the_overdue_series_and_escalation(self, engine: Engine, clock: FixedClock) -> None:
        """Once the decisions are counted, an overdue party is no longer chased."""
        start(engine)
        tick_at(engine, clock, local(2022, 9, 16))
        tick_at(engine, clock, local(2022, 9, 23))
        assert [("overdue", PARTY, "", "2022-10-01T00:00:00+02:00", "queued")] == tick_at(
            engine, clock, local(2022, 10, 1)
        )
        clock.set(local(2022, 10, 5, 10))
        engine.consolidate(KEY, on=date(2022, 10, 5))

        assert [] == timers(engine)
        assert [("escalate", "2022-10-15T00:00:00+02:00"), ("remind_overdue", "2022-10-08T00:00:00+02:00")] == (
            timers(engine, status="cancelled")
        )
        assert [] == tick_at(engine, clock, local(2022, 11, 26))


class TestRecipients:
    def test_one_message_per_active_contact_and_escalations_to_the_coordinators(
        self, engine: Engine, clock: FixedClock
    ) -> None:
        """Each active contact of the party gets its own row, an inactive one none; escalations go to the coordinator's."""
        start(engine)
        contacts(engine, ("c-2380-b", PARTY), ("c-2380-a", PARTY), ("c-2309", OTHER))
        contacts(engine, ("c-region-1", COORDINATOR), ("c-region-2", COORDINATOR))
        engine.add_contact(Contact(id="c-2380-old", party=PARTY, active=False))
        assert [
            ("before", PARTY, "c-2380-a", "2022-09-16T00:00:00+02:00", "queued"),
            ("before", PARTY, "c-2380-b", "2022-09-16T00:00:00+02:00", "queued"),
        ] == sorted(tick_at(engine, clock, local(2022, 9, 16)))

        tick_at(engine, clock, local(2022, 10, 8))
        assert [
            ("escalation", PARTY, "c-region-1", "2022-10-15T00:00:00+02:00", "queued"),
            ("escalation", PARTY, "c-region-2", "2022-10-15T00:00:00+02:00", "queued"),
            ("overdue", PARTY, "c-2380-a", "2022-10-15T00:00:00+02:00", "queued"),
            ("overdue", PARTY, "c-2380-b", "2022-10-15T00:00:00+02:00", "queued"),
        ] == sorted(tick_at(engine, clock, local(2022, 10, 15)))
        escalation = next(o for o in engine.outbox() if o.kind == "escalation")
        assert {"reply_by": "2022-09-30", "days_late": 14} == dict(escalation.details)

    def test_a_party_without_contacts_gets_one_row_that_fails_as_no_contact(
        self, engine: Engine, clock: FixedClock
    ) -> None:
        """With no contact the message is still queued once, to contact "", so the coordinator sees it.

        Delivery never reports it sent (not even the log notifier, which cannot fail): the row is
        ``failed`` with the reason ``no contact``, no attempt counted and no retry.
        """
        start(engine)
        assert [("before", PARTY, "", "2022-09-16T00:00:00+02:00", "queued")] == tick_at(
            engine, clock, local(2022, 9, 16)
        )
        delivery = OutboxDelivery(engine.store, LogNotifier(), clock=clock, worker="w-log")
        with structlog.testing.capture_logs() as logs:
            report = delivery.deliver_due()
        assert (0, 1, 0) == (report.sent, report.failed, report.skipped)
        assert [] == [line for line in logs if line["event"] == "reminder"]
        failed = [line for line in logs if line["event"] == "delivery_failed"]
        assert [("no contact", "before", None)] == [(line["error"], line["kind"], line["retry_at"]) for line in failed]
        (row,) = engine.outbox()
        assert ("failed", "no contact", None, None, 0) == (
            row.status,
            row.last_error,
            row.next_attempt_at,
            row.sent_at,
            row.attempts,
        )
        clock.set(local(2022, 9, 17))
        assert (0, 0, 0) == astuple(delivery.deliver_due())  # never tried again
