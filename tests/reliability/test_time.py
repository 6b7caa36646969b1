"""Time on both stores: clock jumps (NTP steps) forwards and back, both summer-time changes, a daemon
whose clock is in the past. No reminder is queued twice and no transition fires before its instant.

The engine reads time from an injected :class:`FixedClock`; the daemon test runs the real
:class:`SchedulerDaemon` on the system clock under ``time_machine``, which moves that clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine

from beslut.clock import STOCKHOLM, FixedClock, SystemClock
from beslut.errors import InvalidInput
from beslut.scheduler.daemon import DaemonSettings, SchedulerDaemon
from beslut.scheduler.notifiers import LogNotifier
from beslut.scheduler.outbox import OutboxDelivery
from beslut.states.records import Contact
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES, spec_2022

OPEN = "2380"  # the party that never decides in these tests


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    """An instant in Europe/Stockholm local time (*fold* 1: the second 02:xx when summer time ends)."""
    return datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM, fold=fold)


def start(engine: Engine, spec: str | None = None) -> None:
    """Propose and recommend on 2022-06-03; every party but OPEN approves; OPEN has a contact."""
    engine.propose(spec or spec_2022(), on=date(2022, 6, 3))
    engine.recommend(KEY, on=date(2022, 6, 3))
    for party in PARTIES:
        if party != OPEN:
            engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=date(2022, 6, 3))
    engine.add_contact(Contact(id="c-open", party=OPEN, name="Registrator"))


def fingerprint(engine: Engine) -> tuple[int, int, list[tuple[str, str | None, str]]]:
    """What ticks can change: the audit log's length, the outbox's length, and the non-pending timers."""
    done = sorted(
        (d.kind, d.party, d.due_at.isoformat()) for d in engine.deadlines(status=None) if d.status != "pending"
    )
    return len(engine.audit_log()), len(engine.outbox()), done


def tick(engine: Engine, clock: FixedClock, instant: datetime) -> None:
    """Set the wall clock to *instant* (as a daemon would see it) and tick there."""
    clock.set(instant)
    engine.tick(instant)


def overdue(engine: Engine) -> bool:
    return engine.case(KEY).party(OPEN).overdue


def no_duplicates(engine: Engine) -> None:
    """Every outbox message and every audit event happened once."""
    messages = [(o.kind, o.party, o.contact_id, o.due_at) for o in engine.outbox()]
    assert len(set(messages)) == len(messages), messages
    events = [(r.kind, r.payload) for r in engine.audit_log() if r.kind.startswith("party.overdue")]
    assert len(set(events)) == len(events), events


class TestClockJumps:
    def test_ntp_step_back_and_forth_changes_nothing_twice(self, engine: Engine, clock: FixedClock) -> None:
        """Forward past the reply date, back a week, forward again: the overdue event and each reminder once."""
        start(engine)
        tick(engine, clock, local(2022, 9, 20, 9))
        assert not overdue(engine)
        tick(engine, clock, local(2022, 10, 4, 9))  # a step forward of two weeks
        assert overdue(engine)
        after_forward = fingerprint(engine)
        tick(engine, clock, local(2022, 9, 27, 9))  # the clock steps back a week
        tick(engine, clock, local(2022, 9, 27, 9, 1))
        assert after_forward == fingerprint(engine)
        tick(engine, clock, local(2022, 10, 4, 9))  # and forward to where it was
        assert after_forward == fingerprint(engine)
        assert overdue(engine)
        no_duplicates(engine)
        assert engine.verify_audit().ok
        assert engine.case(KEY) == engine.replay(KEY)

    def test_a_tick_ahead_of_a_clock_that_stepped_back_is_refused(self, engine: Engine, clock: FixedClock) -> None:
        """After the clock steps back, a tick at the old instant is in the future: refused, nothing fires."""
        start(engine)
        clock.set(local(2022, 9, 30, 12))
        before = fingerprint(engine)
        with pytest.raises(InvalidInput, match="in the future"):
            engine.tick(local(2022, 10, 1, 0))
        assert before == fingerprint(engine)
        assert not overdue(engine)

    def test_no_transition_one_second_early(self, engine: Engine, clock: FixedClock) -> None:
        """The reply date ends at 00:00 the next day: 23:59:59 changes nothing, 00:00:00 marks the party overdue."""
        start(engine)
        tick(engine, clock, local(2022, 9, 30, 23, 59) + timedelta(seconds=59))
        assert not overdue(engine)
        tick(engine, clock, local(2022, 10, 1))
        assert overdue(engine)
        overdue_events = [r for r in engine.audit_log() if r.kind == "party.overdue"]
        assert ["2022-10-01"] == [r.valid_on for r in overdue_events]


class TestSummerTime:
    def test_reply_date_on_the_day_summer_time_ends(self, engine: Engine, clock: FixedClock) -> None:
        """Reply by Sunday 2022-10-30 (25 hours long): overdue at 00:00 CET on the 31st, not an hour early."""
        spec = spec_2022().replace("reply_by = 2022-09-30", "reply_by = 2022-10-30")
        spec = spec.replace("reply_by_rolls = true", "reply_by_rolls = false")
        start(engine, spec)
        tick(engine, clock, local(2022, 10, 30, 2, 30, fold=0))  # the first 02:30 (CEST)
        tick(engine, clock, local(2022, 10, 30, 2, 30, fold=1))  # the repeated 02:30 (CET)
        tick(engine, clock, local(2022, 10, 30, 23, 59))
        assert not overdue(engine)
        tick(engine, clock, datetime.fromisoformat("2022-10-30T23:00:00+00:00"))  # = 00:00 CET on the 31st
        assert overdue(engine)
        no_duplicates(engine)

    def test_reply_date_on_the_day_summer_time_starts(self, engine: Engine, clock: FixedClock) -> None:
        """Reply by Sunday 2023-03-26 (23 hours long): overdue at 00:00 CEST on the 27th, not an hour early."""
        spec = spec_2022().replace("reply_by = 2022-09-30", "reply_by = 2023-03-26")
        spec = spec.replace("reply_by_rolls = true", "reply_by_rolls = false")
        start(engine, spec.replace("in_force_on = 2023-01-01", "in_force_on = 2023-04-03"))
        tick(engine, clock, local(2023, 3, 26, 1, 59))
        tick(engine, clock, datetime.fromisoformat("2023-03-26T01:00:00+00:00"))  # 03:00 CEST, just after the gap
        tick(engine, clock, datetime.fromisoformat("2023-03-26T21:59:59+00:00"))  # 23:59:59 CEST
        assert not overdue(engine)
        tick(engine, clock, datetime.fromisoformat("2023-03-26T22:00:00+00:00"))  # 00:00 CEST on the 27th
        assert overdue(engine)
        due = {d.kind: d.due_at for d in engine.deadlines(status=None, key=KEY) if d.party == OPEN}
        assert "2023-03-27T00:00:00+02:00" == due["reply_by"].astimezone(STOCKHOLM).isoformat()
        no_duplicates(engine)

    def test_laga_kraft_across_the_october_change(self, engine: Engine, clock: FixedClock) -> None:
        """Announced 2022-10-10: the appeal period's last day is Monday 2022-10-31; final at 00:00 CET on 11-01."""
        start(engine)
        engine.decide(KEY, OPEN, outcome="approved", paragraph="§ 9", on=date(2022, 9, 1))
        clock.set(local(2022, 10, 10, 12))
        engine.announce(KEY, OPEN, on=date(2022, 10, 10))
        assert date(2022, 10, 31) == engine.case(KEY).party(OPEN).appeal_last_day
        tick(engine, clock, local(2022, 10, 31, 23, 59) + timedelta(seconds=59))
        assert "announced" == engine.case(KEY).party(OPEN).state
        tick(engine, clock, local(2022, 11, 1))
        assert "final" == engine.case(KEY).party(OPEN).state


class TestDaemonWithAClockInThePast:
    def test_daemon_started_in_the_past_fires_only_what_was_due_then(self, engine: Engine) -> None:
        """A daemon on a machine whose clock says 2022-09-20 sends the reminders due then, no overdue event;
        when the clock is corrected forwards the rest follow, and stepping it back again repeats nothing."""
        start(engine)
        engine.clock = SystemClock()  # the daemon's engine reads the (travelling) system clock
        delivery = OutboxDelivery(engine.store, LogNotifier(), clock=engine.clock, worker="past")
        daemon = SchedulerDaemon(engine, delivery, DaemonSettings(digest_cron=None, daemon_id="past"))
        with time_machine.travel(local(2022, 9, 20, 9), tick=False):
            daemon.run_once()
            assert not overdue(engine)
            early = [(o.kind, o.due_at) for o in engine.outbox()]
            assert early, "the reminders due before 2022-09-20 were not sent"
            assert all(due <= local(2022, 9, 20, 9) for _, due in early)
            assert {"sent"} == {o.status for o in engine.outbox()}
        with time_machine.travel(local(2022, 10, 20, 9), tick=False):
            daemon.run_once()
            assert overdue(engine)
            corrected = fingerprint(engine)
        with time_machine.travel(local(2022, 9, 25, 9), tick=False):  # the clock steps back again
            daemon.run_once()
            assert corrected == fingerprint(engine)
        with time_machine.travel(local(2022, 10, 20, 9, 5), tick=False):
            daemon.run_once()
            assert corrected == fingerprint(engine)
        no_duplicates(engine)
        # Every message was sent once, or skipped: a missed rung coalesced into the newer one (docs/scheduler.md);
        # the escalation went to the coordinator, who has no contact here: failed as such, never sent.
        rows = engine.outbox()
        assert {"sent", "skipped"} >= {o.status for o in rows if o.contact_id}
        assert [("escalation", "failed", "no contact")] == [
            (o.kind, o.status, o.last_error) for o in rows if not o.contact_id
        ]
        assert engine.verify_audit().ok
