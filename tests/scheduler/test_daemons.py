"""Real `beslut scheduler run` processes against one database: exactly once, crashes, signals, logs.

Each test builds its data in-process (recommendations of the 2022 Mini-Maria spec, all reply dates in
2022, so every timer is due under the real clock), starts daemons as subprocesses of
``.venv/bin/beslut`` and watches the database and a local webhook receiver. Sizes are modest and every
wait is bounded; every daemon is killed in a ``finally`` (tests/scheduler/daemon_helpers.py).

What "exactly once" means here (beslut/scheduler/outbox.py): a timer fires once (its row is claimed
under a lease and re-checked in the transaction that fires it), each message is in the outbox once
(uq_outbox_message), and a message is delivered once, except in the documented at-least-once window:
a daemon that dies after delivering a message and before marking it sent. The receiver can drop
that repeat by its ``X-Beslut-Delivery`` key.
"""

from __future__ import annotations

import signal
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import open_store
from beslut.scheduler import outbox as outbox_module
from beslut.states.records import OutboxRecord
from beslut.workflow import Engine
from beslut.workflow.engine import TICK_BATCH
from tests.scheduler.daemon_helpers import (
    COORDINATOR,
    EMAIL,
    PARTIES,
    DeliveryCounter,
    Progress,
    Workload,
    build_workload,
    contact_of,
    daemons,
    smtp_notifier,
    wait_quiet,
    wait_until,
    webhook_notifier,
    webhook_receiver,
)
from tests.scheduler.notifier_servers import SmtpSink, smtp_server

STOPS_WITHIN = 5.0  # seconds from SIGTERM/SIGINT to exit: "within a few seconds"
SETTLE_WITHIN = 45.0  # seconds: the bound on waiting for the daemons to finish their work


def _outbox_key(record: OutboxRecord) -> tuple[str, str, str, datetime, str]:
    return (record.recommendation, record.party, record.kind, record.due_at, record.contact_id)


def check_database(url: str, work: Workload) -> list[OutboxRecord]:
    """What must hold however the work was shared or interrupted; returns the outbox rows.

    - every outbox row is unique (recommendation, party, kind, due instant, contact) and none is
      left queued or failed;
    - each party of each recommendation got exactly one overdue reminder and one escalation sent,
      and no before-reminder (the ladder coalesced: the older reminders are recorded as skipped,
      whichever daemon fired them in whatever order);
    - no timer fired twice: one ``party.overdue`` event per party per recommendation, and the
      audit chain verifies.
    """
    with Engine(open_store(url)) as engine:
        rows = engine.outbox()
        records = engine.audit_log()
        report = engine.verify_audit()
        pending_due = [d for d in engine.deadlines(status="pending") if d.due_at <= datetime.now(STOCKHOLM)]
    keys = Counter(_outbox_key(r) for r in rows)
    assert [k for k, n in keys.items() if n > 1] == []
    assert {r.status for r in rows} <= {"sent", "skipped"}, Counter(r.status for r in rows)
    assert pending_due == []
    for kind, contact in (("overdue", None), ("escalation", contact_of(COORDINATOR).id)):
        sent = Counter((r.recommendation, r.party) for r in rows if r.kind == kind and r.status == "sent")
        assert set(sent) == {(k, p) for k in work.keys for p in PARTIES}, kind
        assert set(sent.values()) == {1}, kind
        assert all(r.contact_id == (contact or contact_of(r.party).id) for r in rows if r.kind == kind)
    assert {r.status for r in rows if r.kind == "before"} == {"skipped"}
    overdue = Counter((r.stream, r.payload) for r in records if r.kind == "party.overdue")
    assert len(overdue) == len(work.keys) * len(PARTIES)
    assert set(overdue.values()) == {1}
    assert report.ok, report
    return rows


def no_email_in(text: str, work: Workload) -> None:
    """No contact's address, and nothing that looks like an e-mail address, in *text*."""
    assert [e for e in work.emails if e in text] == []
    assert EMAIL.findall(text) == []


def tick_totals(events: list[dict[str, object]]) -> tuple[int, int]:
    """(timers fired, messages sent) summed over a daemon's ``tick`` log events."""
    ticks = [e for e in events if e.get("event") == "tick"]
    return sum(int(str(e.get("timers", 0))) for e in ticks), sum(int(str(e.get("sent", 0))) for e in ticks)


# -- 1. two daemons, one database


def test_two_daemons_share_the_work_and_deliver_each_reminder_exactly_once(store_url: str, tmp_path: Path) -> None:
    work = build_workload(store_url, 12)
    progress = Progress(store_url)
    try:
        with webhook_receiver(DeliveryCounter()) as receiver, daemons(tmp_path, store_url) as group:
            # Short leases: a batch may outlast one (then the other daemon takes the rest of it over), but a
            # message is re-leased just before it is sent, so a live daemon never sends what the other took.
            first = group.start("daemon-a", notifier=webhook_notifier(receiver.url), lease_seconds=2)
            second = group.start("daemon-b", notifier=webhook_notifier(receiver.url), lease_seconds=2)
            wait_until("the timers to fire and the outbox to drain", progress.settled, timeout=SETTLE_WITHIN)
            for daemon in (first, second):
                code, took = daemon.stop(signal.SIGTERM)
                assert (code, daemon.errors()) == (0, "")
                assert took < STOPS_WITHIN
    finally:
        progress.close()

    rows = check_database(store_url, work)
    sent = [r for r in rows if r.status == "sent"]
    assert len(sent) == work.queued
    deliveries = receiver.snapshot()
    assert (receiver.bad_signatures, receiver.emails_in_bodies) == (0, 0)
    assert receiver.total == len(sent)
    assert deliveries == Counter({r.dedupe_key: 1 for r in sent})

    with Engine(open_store(store_url)) as engine:
        beats = {b.daemon_id: b for b in engine.heartbeats()}
    assert set(beats) == {"daemon-a", "daemon-b"}
    assert all(b.stopped_at is not None for b in beats.values())
    shares = {d.name: tick_totals(d.events()) for d in (first, second)}
    assert sum(timers for timers, _ in shares.values()) == work.timers, shares
    assert sum(sent for _, sent in shares.values()) == len(sent), shares
    assert all(timers + sent > 0 for timers, sent in shares.values()), f"one daemon did nothing: {shares}"
    for daemon in (first, second):
        no_email_in(daemon.output() + daemon.errors(), work)
        assert any(e.get("event") == "stopped" for e in daemon.events())


# -- 2. a daemon killed in the middle of a batch


def test_a_killed_daemons_leases_run_out_and_the_next_daemon_finishes_the_work(store_url: str, tmp_path: Path) -> None:
    """SIGKILL daemon A while it fires timers, daemon B while it delivers (stuck in a POST); C finishes.

    The receiver holds B's 21st request unanswered, so B is killed after delivering that message and
    before marking it sent: C sends it again (the at-least-once window). Nothing else is repeated.
    """
    work = build_workload(store_url, 6)
    hold_after = 20
    assert hold_after < outbox_module.BATCH  # B dies in its first batch, holding the rest of it
    progress = Progress(store_url)
    try:
        with (
            webhook_receiver(DeliveryCounter(hold_after=hold_after)) as receiver,
            daemons(tmp_path, store_url) as group,
        ):
            a = group.start("daemon-a", notifier=webhook_notifier(receiver.url), lease_seconds=1)
            wait_until(
                "daemon A to fire some of the timers",
                lambda: progress.due_timers() <= work.timers - 100,
                timeout=SETTLE_WITHIN,
                interval=0.02,
            )
            a.kill()
            left_by_a = progress.due_timers()
            assert 0 < left_by_a < work.timers, "daemon A finished its timers before it could be killed"
            assert receiver.total == 0  # a tick fires every due timer before it delivers

            b = group.start("daemon-b", notifier=webhook_notifier(receiver.url), lease_seconds=1)
            wait_until("daemon B to be stuck delivering", receiver.held.is_set, timeout=SETTLE_WITHIN)
            b.kill()
            delivered_by_b = receiver.snapshot()
            leased_by_b = progress.leased_messages("daemon-b", expired_too=True)
            receiver.release()
            assert sum(delivered_by_b.values()) == hold_after + 1
            assert leased_by_b > 0  # the rest of B's batch: C must wait for the lease to run out

            c = group.start("daemon-c", notifier=webhook_notifier(receiver.url), lease_seconds=1)
            wait_until("daemon C to finish the work", progress.settled, timeout=SETTLE_WITHIN)
            code, took = c.stop(signal.SIGTERM)
            assert (code, c.errors()) == (0, "")
            assert took < STOPS_WITHIN
    finally:
        progress.close()

    rows = check_database(store_url, work)
    sent = {r.dedupe_key for r in rows if r.status == "sent"}
    deliveries = receiver.snapshot()
    assert set(deliveries) == sent  # every sent message arrived, and nothing that is not marked sent
    repeated = {key: n for key, n in deliveries.items() if n > 1}
    # Only messages B delivered before it died can arrive twice, and at most its in-flight batch of them;
    # here exactly the one it was sending (it marks each message sent before it sends the next).
    assert set(repeated) <= set(delivered_by_b), repeated
    assert set(repeated.values()) <= {2}
    assert len(repeated) <= outbox_module.BATCH
    assert receiver.held_key in repeated, (repeated, receiver.held_key)
    assert receiver.total == len(sent) + len(repeated)

    with Engine(open_store(store_url)) as engine:
        beats = {h.daemon_id: h for h in engine.heartbeats()}
    assert set(beats) == {"daemon-a", "daemon-b", "daemon-c"}
    assert beats["daemon-a"].stopped_at is None  # a killed daemon cannot say so: its heartbeat just goes stale
    assert beats["daemon-b"].stopped_at is None
    assert beats["daemon-c"].stopped_at is not None
    for daemon in (a, b, c):
        no_email_in(daemon.output() + daemon.errors(), work)


# -- 3. SIGTERM and SIGINT


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_daemon_within_seconds_with_json_logs_and_a_final_heartbeat(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """Also the log notifier's lines: one ``reminder`` per message, the contact by id, no e-mail address."""
    url = str(tmp_path / "beslut.db")
    work = build_workload(url, 1)
    progress = Progress(url)
    try:
        with daemons(tmp_path, url) as group:
            # A tick interval the one recommendation's work fits in many times over: no run is skipped.
            daemon = group.start("daemon-a", tick_seconds=5)
            daemon.wait_started()
            wait_until("the daemon to do the work", progress.settled, timeout=SETTLE_WITHIN)
            wait_until(  # and to log it: the signal comes to an idle daemon
                "the daemon's tick line",
                lambda: tick_totals(daemon.events()) == (work.timers, work.queued),
                timeout=SETTLE_WITHIN,
            )
            code, took = daemon.stop(sig)
    finally:
        progress.close()

    assert (code, daemon.errors()) == (0, "")
    assert took < STOPS_WITHIN
    assert daemon.non_json_lines() == []
    events = daemon.events()
    names = [e.get("event") for e in events]
    assert names[0] == "started"
    assert names[-2:] == ["stopping", "stopped"]
    assert {"event": "signal", "signal": sig.name}.items() <= next(e for e in events if e["event"] == "signal").items()
    assert all({"level", "timestamp"} <= set(e) for e in events)
    assert tick_totals(events) == (work.timers, work.queued)
    reminders = [e for e in events if e["event"] == "reminder"]
    assert len(reminders) == work.queued
    assert {e["contact_id"] for e in reminders} == {contact_of(p).id for p in PARTIES}
    no_email_in(daemon.output() + daemon.errors(), work)
    with Engine(open_store(url)) as engine:
        (beat,) = engine.heartbeats()
    assert beat.daemon_id == "daemon-a"
    assert beat.stopped_at is not None
    assert beat.last_tick_at is not None
    assert beat.stopped_at >= beat.started_at


def test_sigterm_in_the_middle_of_a_tick_hands_the_work_in_hand_to_the_next_daemon_at_once(tmp_path: Path) -> None:
    """Each timer is fired and committed or left pending, and the stopping daemon drops its leases.

    The leases are long (300 s): the successor can only finish promptly if they were released.
    """
    url = str(tmp_path / "beslut.db")
    work = build_workload(url, 4)
    progress = Progress(url)
    try:
        with daemons(tmp_path, url) as group:
            a = group.start("daemon-a", lease_seconds=300)
            wait_until(
                "daemon A to fire some of the timers",
                lambda: progress.due_timers() <= work.timers - 50,
                timeout=SETTLE_WITHIN,
                interval=0.02,
            )
            code, took = a.stop(signal.SIGTERM)
            left = progress.due_timers()
            held = progress.leased_timers("daemon-a") + progress.leased_messages("daemon-a")
            assert (code, a.errors()) == (0, "")
            assert took < STOPS_WITHIN
            assert left > 0, "daemon A finished before the signal"
            assert held == 0
            b = group.start("daemon-b", lease_seconds=300)
            wait_until("daemon B to finish the work", progress.settled, timeout=SETTLE_WITHIN)
            code, _ = b.stop(signal.SIGTERM)
            assert code == 0
    finally:
        progress.close()
    check_database(url, work)
    timers = [tick_totals(d.events())[0] for d in (a, b)]
    assert sum(timers) == work.timers, timers


# -- 4. no personal data in the logs (see also the checks in the tests above)


class _FullMailbox(SmtpSink):
    """An SMTP server that takes the recipient and then refuses the data, naming the mailbox (as MTAs do)."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        recipient = envelope.rcpt_tos[0]  # type: ignore[attr-defined]
        return f"552 5.2.2 <{recipient}>: mailbox full"


def test_a_failed_smtp_delivery_logs_no_email_address(tmp_path: Path) -> None:
    url = str(tmp_path / "beslut.db")
    work = build_workload(url, 1)
    progress = Progress(url)
    try:
        with smtp_server(sink=_FullMailbox()) as sink, daemons(tmp_path, url) as group:
            daemon = group.start("daemon-smtp", notifier=smtp_notifier(sink.port), tick_seconds=5)
            wait_until(
                "every delivery to fail once", lambda: progress.outbox("failed") == work.queued, timeout=SETTLE_WITHIN
            )
            code, _ = daemon.stop(signal.SIGTERM)
    finally:
        progress.close()
    assert code == 0
    assert any(e.get("event") == "delivery_failed" for e in daemon.events())
    no_email_in(daemon.output() + daemon.errors(), work)


# -- two daemons that get in each other's way


def test_a_busy_daemon_still_writes_only_json_lines(tmp_path: Path) -> None:
    url = str(tmp_path / "beslut.db")
    build_workload(url, 1)
    progress = Progress(url)
    try:
        with daemons(tmp_path, url) as group:
            daemon = group.start("daemon-a", tick_seconds=0.05)  # the first tick outlasts the interval
            wait_until("the daemon to do the work", progress.settled, timeout=SETTLE_WITHIN)
            code, _ = daemon.stop(signal.SIGTERM)
    finally:
        progress.close()
    assert code == 0
    assert daemon.non_json_lines() == []


def test_a_live_daemon_whose_lease_runs_out_does_not_resend_what_another_daemon_sent(tmp_path: Path) -> None:
    url = str(tmp_path / "beslut.db")
    build_workload(url, 1)
    progress = Progress(url)
    try:
        with webhook_receiver(DeliveryCounter(hold_after=0)) as receiver, daemons(tmp_path, url) as group:
            a = group.start("daemon-a", notifier=webhook_notifier(receiver.url), lease_seconds=1)
            wait_until("daemon A to be stuck in its first delivery", receiver.held.is_set, timeout=SETTLE_WITHIN)
            b = group.start("daemon-b", notifier=webhook_notifier(receiver.url), lease_seconds=1)
            wait_until("daemon B to send the whole batch", progress.settled, timeout=SETTLE_WITHIN)
            receiver.release()  # A's first send returns, long after its lease ran out
            wait_quiet("daemon A to finish its batch", lambda: receiver.total, quiet_for=0.5)
            for daemon in (a, b):
                assert daemon.stop(signal.SIGTERM)[0] == 0
    finally:
        progress.close()
    repeated = {key: n for key, n in receiver.snapshot().items() if n > 1}
    # The message in flight when A's lease ran out may arrive twice; no other.
    assert len(repeated) <= 1, repeated


def test_two_workers_coalesce_a_missed_ladder_whatever_order_they_fire_it_in(tmp_path: Path) -> None:
    """In-process and deterministic: what two daemons do when one of them is slow with its claimed batch.

    Worker A claims the first 100 due timers (the before-reminders come first) and fires only one;
    worker B fires every timer A did not claim, among them some parties' overdue reminders; then A
    fires the rest of its batch. Each party's ladder (two before-reminders and the overdue series)
    must still send only its newest reminder.
    """
    url = str(tmp_path / "beslut.db")
    work = build_workload(url, 3)
    before_reminders = len(work.keys) * len(PARTIES) * 2
    assert before_reminders < TICK_BATCH < work.timers  # A's batch holds every before-reminder, B gets the rest
    now = datetime.now(STOCKHOLM)
    with Engine(open_store(url), clock=FixedClock(now)) as engine:
        go_on = iter([False])  # A fires the first timer of its batch, then stops and keeps the rest leased
        assert len(engine.tick(now, worker="worker-a", should_stop=lambda: next(go_on, True))) == 1
        fired_by_b = engine.tick(now, worker="worker-b")
        assert {f.deadline.kind for f in fired_by_b} >= {"remind_overdue"}
        engine.tick(now, worker="worker-a")
        rows = engine.outbox()
        pending = engine.deadlines(status="pending")
    assert len(pending) == len(work.keys) * len(PARTIES)  # the next overdue occurrence of each party
    queued = [r for r in rows if r.status == "queued"]
    assert Counter(r.kind for r in queued) == Counter(overdue=work.queued // 2, escalation=work.queued // 2)
