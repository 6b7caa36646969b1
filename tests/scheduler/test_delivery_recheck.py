"""A message is checked again when it is delivered: real `beslut scheduler run --once` processes, both stores.

Issue 16's scenario: `tick` queues reminders; the party then decides (or the recommendation is counted,
comes into force, is withdrawn); later a delivery pass must not send the old reminder, and must not count
a message to no one as sent. The data is made in-process on a FixedClock in 2022; the delivery is a real
subprocess of ``.venv/bin/beslut`` with the real clock (every 2022 timer that is still pending fires in
it too), sending through a real SMTP server (aiosmtpd), a real webhook receiver, or the log notifier.
The rule itself, state by state, is in tests/scheduler/test_delivery_verdict.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import open_store
from beslut.states.records import OutboxEntry, OutboxRecord
from beslut.workflow import Engine
from tests.scheduler.daemon_helpers import (
    COORDINATOR,
    LOG_NOTIFIER,
    PARTIES,
    SCRIPT,
    SECRET,
    SECRET_ENV,
    SPEC_2022,
    DeliveryCounter,
    Progress,
    contact_of,
    daemons,
    smtp_notifier,
    wait_until,
    webhook_notifier,
    webhook_receiver,
    write_config,
)
from tests.scheduler.notifier_servers import smtp_server

KEY = "svom-2022-mini-maria"
DECIDER = "2380"  # decides after its reminder was queued
SILENT = "2303"  # has no contact: its messages go to contact ""
RUN_WITHIN = 60.0  # seconds: the bound on one `scheduler run --once`
_SUMMARY = re.compile(
    r"^(?P<timers>\d+) timer\(s\) handled, (?P<sent>\d+) message\(s\) sent, (?P<failed>\d+) failed, "
    r"(?P<not_due>\d+) no longer due$"
)


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """An instant in Europe/Stockholm local time."""
    return datetime(year, month, day, hour, tzinfo=STOCKHOLM)


@dataclass(frozen=True)
class Run:
    """What one `scheduler run --once` process did."""

    code: int
    stdout: str
    stderr: str

    @property
    def counts(self) -> dict[str, int]:
        """The summary line's numbers: timers, sent, failed, not_due."""
        match = _SUMMARY.match(self.stdout.strip().splitlines()[-1])
        assert match is not None, self.stdout[-2000:]
        return {name: int(value) for name, value in match.groupdict().items()}

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines whose event is *name*."""
        found = []
        for line in self.stdout.splitlines()[:-1]:
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
        return found


def run_once(db: str, directory: Path, notifier: str) -> Run:
    """Run `beslut scheduler run --once` as a real process on *db* with the *notifier* table."""
    config = write_config(
        directory / "once.toml", daemon_id="once", notifier=notifier, lease_seconds=30, tick_seconds=30
    )
    env = {**os.environ, SECRET_ENV: SECRET}
    env.pop("BESLUT_DB", None)
    done = subprocess.run(
        [str(SCRIPT), "scheduler", "run", "--once", "--config", str(config), "--db", db],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=RUN_WITHIN,
        check=False,
    )
    return Run(code=done.returncode, stdout=done.stdout, stderr=done.stderr)


def recommend(url: str, clock: FixedClock, *, contacts: list[str]) -> Engine:
    """The 2022 case proposed and recommended on 2022-06-03, with one contact for each party in *contacts*."""
    engine = Engine(open_store(url), clock=clock, actor="test")
    engine.init()
    engine.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
    for party in contacts:  # after the proposal: a contact's party must be named by a recommendation
        engine.add_contact(contact_of(party))
    engine.recommend(KEY, on=date(2022, 6, 3))
    return engine


def outbox(url: str) -> list[OutboxRecord]:
    with Engine(open_store(url)) as engine:
        return engine.outbox()


def mine(rows: list[OutboxRecord], kind: str, party: str) -> list[OutboxRecord]:
    return [r for r in rows if (r.kind, r.party) == (kind, party)]


# -- the party decides after its reminder was queued


def reminded_then_decided(url: str) -> None:
    """Ticked on 2022-09-16 (the 14-day reminders queued); Östersund decides on the 20th; Ragunda has no contact."""
    clock = FixedClock(local(2022, 9, 16, 8))
    with recommend(url, clock, contacts=[p for p in PARTIES if p != SILENT]) as engine:
        engine.tick(local(2022, 9, 16))
        assert 9 == len(engine.outbox(status="queued"))
        clock.set(local(2022, 9, 20, 10))
        engine.decide(KEY, DECIDER, outcome="approved", paragraph="§ 88", on=date(2022, 9, 20))


def test_a_reminder_to_a_party_that_decided_meanwhile_is_skipped_and_no_contact_is_never_sent(
    store_url: str, tmp_path: Path
) -> None:
    """Ticked on 2022-09-16 (the 14-day reminders queued), Östersund decides on the 20th, delivery runs today.

    Östersund's reminder is skipped with the reason and no e-mail reaches its contact; Ragunda has no
    contact, so its messages fail as ``no contact`` and are never sent nor retried; everyone else's
    messages (the old reminder, and what the real clock fires now) go through the SMTP server.
    """
    reminded_then_decided(store_url)
    with smtp_server() as sink:
        first = run_once(store_url, tmp_path, smtp_notifier(sink.port))
        mailed = Counter(rcpt for mail in sink.received for rcpt in mail.rcpt_tos)
        again = run_once(store_url, tmp_path, smtp_notifier(sink.port))
    assert (first.code, first.stderr, again.code, again.stderr) == (0, "", 0, "")

    rows = outbox(store_url)
    (reminder,) = mine(rows, "before", DECIDER)
    reason = "no longer due: the party has decided (decided)"
    assert ("skipped", reason, None, None, 0) == (
        reminder.status,
        reminder.last_error,
        reminder.sent_at,
        reminder.next_attempt_at,
        reminder.attempts,
    )
    assert [reason] == [e["reason"] for e in first.events("delivery_skipped")]
    assert contact_of(DECIDER).email not in mailed

    nobody = [r for r in rows if not r.contact_id]
    assert {"before", "overdue"} <= {r.kind for r in nobody}
    assert {r.party for r in nobody} == {SILENT}
    tried = [r for r in nobody if r.status != "skipped" or r.last_error is not None]  # not coalesced at queue time
    assert {("failed", "no contact", None, None, 0)} == {
        (r.status, r.last_error, r.sent_at, r.next_attempt_at, r.attempts) for r in tried
    }
    assert [] == [r for r in rows if r.status == "sent" and not r.contact_id]

    sent = [r for r in rows if r.status == "sent"]
    undecided_with_contact = [p for p in PARTIES if p not in (DECIDER, SILENT)]
    assert {(r.kind, r.party) for r in sent if r.kind != "escalation"} == {
        (kind, p) for kind in ("before", "overdue") for p in undecided_with_contact
    }
    assert {r.party for r in sent if r.kind == "escalation"} == {p for p in PARTIES if p != DECIDER}
    assert {r.contact_id for r in sent if r.kind == "escalation"} == {contact_of(COORDINATOR).id}
    assert sum(mailed.values()) == len(sent)
    assert {"sent": len(sent), "failed": len(tried), "not_due": 1} == {
        k: v for k, v in first.counts.items() if k != "timers"
    }
    assert {"timers": 0, "sent": 0, "failed": 0, "not_due": 0} == again.counts  # nothing retried
    assert rows == outbox(store_url)


def test_the_long_running_daemon_checks_again_too(store_url: str, tmp_path: Path) -> None:
    """The same, delivered by `scheduler run` (the daemon, stopped by SIGTERM) through the webhook notifier."""
    reminded_then_decided(store_url)
    progress = Progress(store_url)
    try:
        with webhook_receiver(DeliveryCounter()) as receiver, daemons(tmp_path, store_url) as group:
            daemon = group.start("daemon-a", notifier=webhook_notifier(receiver.url))
            wait_until(
                "the timers to fire and the outbox to drain",
                lambda: progress.due_timers() == 0 and progress.outbox("queued") == 0,
                timeout=RUN_WITHIN,
            )
            code, _ = daemon.stop(signal.SIGTERM)
    finally:
        progress.close()
    assert (code, daemon.errors()) == (0, "")

    rows = outbox(store_url)
    (reminder,) = mine(rows, "before", DECIDER)
    assert ("skipped", "no longer due: the party has decided (decided)") == (reminder.status, reminder.last_error)
    sent = {r.dedupe_key for r in rows if r.status == "sent"}
    assert set(receiver.snapshot()) == sent
    assert reminder.dedupe_key not in receiver.snapshot()
    assert {("failed", "no contact")} == {(r.status, r.last_error) for r in rows if r.status == "failed"}
    assert {SILENT} == {r.party for r in rows if r.status == "failed"}
    assert 1 == sum(int(str(e.get("not_due", 0))) for e in daemon.events() if e.get("event") == "tick")


# -- the recommendation moves on after its overdue reminders were queued


def _consolidated(engine: Engine, clock: FixedClock) -> None:
    clock.set(local(2022, 10, 5, 10))
    engine.consolidate(KEY, on=date(2022, 10, 5))  # nobody answered: counted, not adopted


def _in_force(engine: Engine, clock: FixedClock) -> None:
    clock.set(local(2022, 10, 3, 10))
    for party in PARTIES:
        engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=date(2022, 10, 3))
    clock.set(local(2023, 1, 2, 10))
    engine.consolidate(KEY, on=date(2023, 1, 2))  # adopted, in force since 2023-01-01
    clock.set(local(2023, 2, 1, 10))  # the court annuls Östersund's decision: recounted, not adopted, escalated
    engine.announce(KEY, DECIDER, on=date(2023, 1, 3))
    engine.appeal(KEY, DECIDER, on=date(2023, 1, 10))
    engine.settle(KEY, DECIDER, result="annulled", on=date(2023, 2, 1))


def _withdrawn(engine: Engine, clock: FixedClock) -> None:
    clock.set(local(2022, 10, 3, 10))
    engine.withdraw(KEY, on=date(2022, 10, 3), reason="ny utredning")


MOVES = {"consolidated": _consolidated, "in_force": _in_force, "withdrawn": _withdrawn}


def _recount_escalations(engine: Engine) -> tuple[OutboxRecord, OutboxEntry]:
    """Two escalations to the coordinator about Östersund: the annulment's (queued by the recount), and a plain one."""
    (recount,) = [m for m in engine.outbox() if m.kind == "escalation" and m.details.get("reason") == "recount"]
    plain = OutboxEntry(
        recommendation=KEY,
        party=DECIDER,
        kind="escalation",
        due_at=local(2023, 1, 2, 12),
        contact_id=contact_of(COORDINATOR).id,
        details={},
    )
    with engine.store.unit_of_work() as uow:
        assert 1 == uow.queue_messages([plain], now=engine.clock.now())
    return recount, plain


@pytest.mark.parametrize(
    ("state", "notifier"),
    [("consolidated", "smtp"), ("in_force", "webhook"), ("withdrawn", "log")],
    ids=["consolidated-smtp", "in_force-webhook", "withdrawn-log"],
)
def test_overdue_reminders_are_skipped_once_the_recommendation_has_moved_on(
    state: str, notifier: str, store_url: str, tmp_path: Path
) -> None:
    """Ticked on 2022-10-01 (every party's overdue reminder queued), then counted, in force or withdrawn.

    Nothing of it reaches the notifier: each reminder is skipped with the recommendation's state. With
    the agreement in force and then a counted decision annulled, the recount's escalation is sent (the
    agreement is no longer adopted), and a plain escalation is skipped like the reminders.
    """
    clock = FixedClock(local(2022, 10, 1, 8))
    with recommend(store_url, clock, contacts=PARTIES) as engine:
        engine.tick(local(2022, 10, 1))
        assert {p: ["queued"] for p in PARTIES} == {
            p: [r.status for r in mine(engine.outbox(), "overdue", p)] for p in PARTIES
        }
        MOVES[state](engine, clock)
        assert state == engine.case(KEY).state
        recount = _recount_escalations(engine)[0] if state == "in_force" else None

    with webhook_receiver(DeliveryCounter()) as receiver, smtp_server() as sink:
        table = {"smtp": smtp_notifier(sink.port), "webhook": webhook_notifier(receiver.url), "log": LOG_NOTIFIER}
        run = run_once(store_url, tmp_path, table[notifier])
    assert (run.code, run.stderr) == (0, "")

    rows = outbox(store_url)
    reason = f"no longer due: the recommendation is {state}"
    overdue = [r for r in rows if r.kind == "overdue"]
    assert {p: [("skipped", reason, None)] for p in PARTIES} == {
        p: [(r.status, r.last_error, r.sent_at) for r in mine(rows, "overdue", p)] for p in PARTIES
    }
    skipped_now = len(overdue)
    delivered = [r for r in rows if r.status == "sent"]
    if recount is not None:
        assert [("sent", dict(recount.details))] == [(r.status, dict(r.details)) for r in delivered]
        (plain,) = [r for r in mine(rows, "escalation", DECIDER) if not r.details]
        assert ("skipped", reason) == (plain.status, plain.last_error)
        skipped_now += 1
    else:
        assert [] == delivered
    assert {"timers": 0, "sent": len(delivered), "failed": 0, "not_due": skipped_now} == run.counts
    assert (len(sink.received), receiver.total) == ((0, len(delivered)) if notifier == "webhook" else (0, 0))
    assert [] == [e for e in run.events("reminder") if e["kind"] == "overdue"]  # the log notifier wrote none
    assert skipped_now == len(run.events("delivery_skipped"))
