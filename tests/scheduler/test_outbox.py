"""Delivering the outbox: sent once, failures kept visible with backoff, workers sharing one store by leases,
and the coordinators' digest queued once per scheduled minute.

A recording notifier stands in for e-mail; the clock is a FixedClock moved by hand. Every test runs on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

import pytest

from beslut import failpoints
from beslut.clock import STOCKHOLM, Clock, FixedClock
from beslut.persistence import Store, open_store
from beslut.scheduler.daemon import DaemonSettings, SchedulerDaemon
from beslut.scheduler.notifiers import DeliveryError, LogNotifier, Message
from beslut.scheduler.outbox import MAX_ATTEMPTS, OUTBOX_LEASE, DeliveryReport, OutboxDelivery, backoff
from beslut.states.records import Contact, OutboxEntry, OutboxRecord
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES, spec_2022

PARTY = "2380"
FAILING = "c-2309"  # Krokom's contact: the one the tests make fail
COORDINATOR = "region-jh"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An instant in Europe/Stockholm local time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=STOCKHOLM)


class Recorder:
    """A notifier that records what it delivers, and fails for chosen contacts."""

    name = "recorder"

    def __init__(
        self,
        *,
        failing: Iterable[str] = (),
        permanent: Iterable[str] = (),
        crashing: Iterable[str] = (),
        delay: float = 0.0,
        on_first_send: Callable[[], None] | None = None,
    ) -> None:
        self.failing = set(failing)  # contact ids whose server is "down"
        self.permanent = set(permanent)  # contact ids whose address is refused
        self.crashing = set(crashing)  # contact ids that make the notifier itself break
        self.delay = delay
        self.on_first_send = on_first_send
        self.tried: list[int] = []
        self.delivered: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Record *message*, or raise for a failing contact."""
        with self._lock:
            first = not self.tried
            self.tried.append(message.outbox_id)
        if first and self.on_first_send is not None:
            self.on_first_send()
        contact = message.recipient.contact_id
        if contact in self.crashing:
            raise RuntimeError("the notifier has a bug")
        if contact in self.permanent:
            raise DeliveryError(f"{contact}: 550 mailbox unavailable", permanent=True)
        if contact in self.failing:
            raise DeliveryError(f"{contact}: connection refused")
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.delivered.append(message)

    @property
    def delivered_ids(self) -> list[int]:
        """Outbox ids delivered, in order."""
        return [m.outbox_id for m in self.delivered]


def worker(store: Store, notifier: Recorder, clock: Clock, name: str = "w1") -> OutboxDelivery:
    """A delivery worker named *name*."""
    return OutboxDelivery(store, notifier, clock=clock, worker=name)


def counts(delivery: OutboxDelivery) -> tuple[int, int]:
    """One delivery pass as (sent, failed)."""
    report = delivery.deliver_due()
    return report.sent, report.failed


def the(engine: Engine, contact: str) -> OutboxRecord:
    """The one outbox row to *contact*."""
    (found,) = [o for o in engine.outbox() if o.contact_id == contact]
    return found


def queue_reminders(engine: Engine) -> Engine:
    """The 2022 case recommended and its 14-day reminders queued: nine messages, one to each party's contact.

    Every party has a contact (two with an address): a message to no contact is never sent (see
    test_ladder.py), and these tests are about the ones that are.
    """
    engine.propose(spec_2022(), on=date(2022, 6, 3))
    engine.recommend(KEY, on=date(2022, 6, 3))
    engine.add_contact(Contact(id="c-2380", party=PARTY, email="registrator@ostersund.example"))
    engine.add_contact(Contact(id=FAILING, party="2309", email="kommun@krokom.example"))
    for party in PARTIES[2:]:
        engine.add_contact(Contact(id=f"c-{party}", party=party))
    engine.tick(local(2022, 9, 16))
    assert 9 == len(engine.outbox(status="queued"))
    return engine


@pytest.fixture
def queued(engine: Engine) -> Engine:
    """Nine 14-day reminders in the outbox, queued at the clock's instant (2022-12-01 12:00)."""
    return queue_reminders(engine)


class TestDelivery:
    def test_each_message_is_sent_once_and_marked_sent(self, queued: Engine, clock: FixedClock) -> None:
        """One pass sends every due message; the rows become sent with sent_at; a second pass sends nothing."""
        notifier = Recorder()
        delivery = worker(queued.store, notifier, clock)
        clock.advance(timedelta(minutes=1))

        assert (9, 0) == counts(delivery)
        assert (0, 0) == counts(delivery)
        records = queued.outbox()
        assert sorted(o.id for o in records) == sorted(notifier.delivered_ids)
        assert {("sent", clock.now(), 1, None, None, None)} == {
            (o.status, o.sent_at, o.attempts, o.next_attempt_at, o.last_error, o.claimed_by) for o in records
        }
        message = next(m for m in notifier.delivered if m.recipient.contact_id == "c-2380")
        assert ("before", KEY, PARTY, "Östersunds kommun", date(2022, 9, 30), local(2022, 9, 16)) == (
            message.kind,
            message.recommendation,
            message.party,
            message.party_name,
            message.reply_by,
            message.due_at,
        )
        assert "registrator@ostersund.example" == message.recipient.email
        assert the(queued, "c-2380").dedupe_key == message.dedupe_key

    def test_a_failure_stays_visible_blocks_nothing_and_is_retried(self, queued: Engine, clock: FixedClock) -> None:
        """A failed message keeps its error and next attempt while the rest are sent; it is retried from then on."""
        notifier = Recorder(failing=[FAILING])
        delivery = worker(queued.store, notifier, clock)

        assert (8, 1) == counts(delivery)
        failed = the(queued, FAILING)
        assert ("failed", 1, None, clock.now() + timedelta(seconds=30)) == (
            failed.status,
            failed.attempts,
            failed.sent_at,
            failed.next_attempt_at,
        )
        assert f"{FAILING}: connection refused" == failed.last_error
        assert ([failed.id], 8) == ([o.id for o in queued.outbox(status="failed")], len(queued.outbox(status="sent")))

        clock.advance(timedelta(seconds=29))
        assert (0, 0) == counts(delivery)
        clock.advance(timedelta(seconds=1))
        assert (0, 1) == counts(delivery)
        assert (2, clock.now() + timedelta(minutes=1)) == (
            the(queued, FAILING).attempts,
            the(queued, FAILING).next_attempt_at,
        )

        notifier.failing.clear()
        clock.advance(timedelta(minutes=1))
        assert (1, 0) == counts(delivery)
        done = the(queued, FAILING)
        assert ("sent", clock.now(), 3, None, None) == (
            done.status,
            done.sent_at,
            done.attempts,
            done.last_error,
            done.next_attempt_at,
        )

    def test_gives_up_after_max_attempts_or_at_once_when_permanent(self, queued: Engine, clock: FixedClock) -> None:
        """Each failure waits twice as long until MAX_ATTEMPTS; a refused address is failed at once; neither is retried."""
        notifier = Recorder(failing=[FAILING], permanent=["c-2380"])
        delivery = worker(queued.store, notifier, clock)
        waits: list[timedelta] = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            counts(delivery)
            row = the(queued, FAILING)
            assert ("failed", attempt) == (row.status, row.attempts)
            if row.next_attempt_at is not None:
                waits.append(row.next_attempt_at - clock.now())
                clock.set(row.next_attempt_at)

        assert [timedelta(seconds=30 * 2**n) for n in range(MAX_ATTEMPTS - 1)] == waits
        assert [backoff(n) for n in range(1, MAX_ATTEMPTS)] == waits
        refused = the(queued, "c-2380")
        assert ("failed", 1, None) == (refused.status, refused.attempts, refused.next_attempt_at)
        assert "c-2380: 550 mailbox unavailable" == refused.last_error
        assert None is the(queued, FAILING).next_attempt_at
        clock.advance(timedelta(days=30))
        assert (0, 0) == counts(delivery)
        assert (MAX_ATTEMPTS, 1) == (notifier.tried.count(the(queued, FAILING).id), notifier.tried.count(refused.id))

    def test_a_notifier_crash_fails_only_that_message(self, queued: Engine, clock: FixedClock) -> None:
        """An unexpected exception from the notifier is recorded on its row; the other messages are still sent."""
        delivery = worker(queued.store, Recorder(crashing=[FAILING]), clock)

        assert (8, 1) == counts(delivery)
        row = the(queued, FAILING)
        assert "failed" == row.status
        assert "the notifier has a bug" in (row.last_error or "")


class TestWorkers:
    def test_a_leased_message_is_not_delivered_by_another_worker(self, queued: Engine, clock: FixedClock) -> None:
        """While w1 holds its batch, w2 finds nothing to deliver; w1 delivers all nine."""
        second = Recorder()
        w2 = worker(queued.store, second, clock, "w2")
        passes: list[tuple[int, int]] = []
        first = Recorder(on_first_send=lambda: passes.append(counts(w2)))
        w1 = worker(queued.store, first, clock, "w1")

        assert (9, 0) == counts(w1)
        assert [(0, 0)] == passes
        assert ([], 9) == (second.delivered_ids, len(set(first.delivered_ids)))

    def test_two_workers_in_threads_deliver_each_message_once(
        self, store: Store, store_url: str, clock: FixedClock
    ) -> None:
        """Two workers on two connection pools, running at once over 200 messages, never deliver one twice."""
        engine = Engine(store, clock=clock, actor="test")  # the reminders' recommendation, still open: all are due
        engine.propose(spec_2022(), on=date(2022, 6, 3))
        engine.recommend(KEY, on=date(2022, 6, 3))
        entries = [
            OutboxEntry(
                recommendation=KEY, party=PARTIES[n % 9], kind="before", due_at=local(2022, 9, 16), contact_id=f"c{n}"
            )
            for n in range(200)
        ]
        with store.unit_of_work() as uow:
            uow.queue_messages(entries, now=clock.now())
        other = open_store(store_url)
        notifiers = [Recorder(delay=0.002), Recorder(delay=0.002)]
        workers = [worker(store, notifiers[0], clock, "w1"), worker(other, notifiers[1], clock, "w2")]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(delivery: OutboxDelivery) -> None:
            start.wait()
            try:
                delivery.deliver_due()
            except BaseException as error:  # reported by the test thread
                errors.append(error)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            other.close()

        assert [] == errors
        first, second = (n.delivered_ids for n in notifiers)
        assert set() == set(first) & set(second)
        assert 200 == len(first) + len(second) == len(set(first + second))
        assert first, "both workers should have taken a share"
        assert second, "both workers should have taken a share"
        with store.reader() as reader:
            assert ["sent"] * 200 == [o.status for o in reader.outbox()]

    def test_an_expired_lease_is_taken_over_and_the_late_finish_refused(
        self, queued: Engine, clock: FixedClock
    ) -> None:
        """w1 claims and stalls; after its lease w2 delivers; w1's late finish_outbox returns False."""
        now = clock.now()
        with queued.store.unit_of_work() as uow:
            held = uow.claim_outbox(now, worker="w1", lease_until=now + OUTBOX_LEASE, limit=50)
        assert 9 == len(held)
        w2 = worker(queued.store, Recorder(), clock, "w2")

        clock.advance(OUTBOX_LEASE - timedelta(seconds=1))
        assert (0, 0) == counts(w2)
        clock.advance(timedelta(seconds=2))
        assert (9, 0) == counts(w2)
        taken_over_at = clock.now()

        clock.advance(timedelta(seconds=5))
        with queued.store.unit_of_work() as uow:
            late = uow.finish_outbox(held[0].id, worker="w1", sent_at=clock.now(), error=None, next_attempt_at=None)
        assert late is False
        row = next(o for o in queued.outbox() if o.id == held[0].id)
        assert ("sent", taken_over_at, 1) == (row.status, row.sent_at, row.attempts)


class TestCheckedAgainAtDelivery:
    def test_a_decision_being_committed_is_waited_for_not_slipped_past(
        self, queued: Engine, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A decision in flight holds the case; delivery waits for it, then sees it and skips that party's reminder.

        The decision is paused after its events are written and before its commit. Had delivery read the
        case without holding it, it would have read the state from before the decision and sent Östersund's
        reminder meanwhile (on PostgreSQL; SQLite's one writer makes the whole delivery wait).
        """
        paused, go = threading.Event(), threading.Event()
        real_hit = failpoints.hit
        errors: list[BaseException] = []

        def hit(name: str) -> None:
            if name == "engine.after_append_events" and threading.current_thread() is decide:
                paused.set()
                assert go.wait(30)
            real_hit(name)

        def guarded(call: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                try:
                    call()
                except BaseException as error:  # reported by the test thread
                    errors.append(error)

            return run

        monkeypatch.setattr(failpoints, "hit", hit)
        notifier = Recorder()
        reports: list[DeliveryReport] = []
        decide = threading.Thread(
            target=guarded(
                lambda: queued.decide(KEY, PARTY, outcome="approved", paragraph="§ 88", on=date(2022, 9, 20))
            )
        )
        deliver = threading.Thread(
            target=guarded(lambda: reports.append(worker(queued.store, notifier, clock).deliver_due()))
        )
        decide.start()
        try:
            assert paused.wait(30), errors
            deliver.start()
            time.sleep(1.0)  # time enough for a delivery that does not wait to send all nine
            sent_meanwhile = list(notifier.delivered)
        finally:
            go.set()
            decide.join(30)
            if deliver.ident is not None:  # started
                deliver.join(60)
        assert [] == errors
        assert [] == sent_meanwhile
        assert [DeliveryReport(sent=8, failed=0, skipped=1)] == reports
        assert PARTY not in {m.party for m in notifier.delivered}
        row = the(queued, "c-2380")
        assert ("skipped", "no longer due: the party has decided (decided)", None) == (
            row.status,
            row.last_error,
            row.sent_at,
        )


_SECOND_PASS = datetime(2022, 10, 30, 1, 10, tzinfo=UTC)  # 02:10+01:00: the repeated hour's second pass
_FIRST_PASS = datetime(2022, 10, 30, 0, 58, tzinfo=UTC)  # 02:58+02:00: two minutes before the clocks go back


class TestLeaseInTheRepeatedHour:
    """On 30 October 2022 Stockholm's clocks go back from 03:00 to 02:00: a lease must still last its length."""

    def test_a_lease_taken_in_the_second_pass_holds(self, engine: Engine, clock: FixedClock) -> None:
        """A Stockholm clock at 02:10 (second pass): while w1 sends, w2 must find the message leased."""
        clock.set(_SECOND_PASS.astimezone(STOCKHOLM))
        assert 1 == clock.now().fold
        self._assert_w2_waits(queue_reminders(engine), clock, advance=timedelta(0))

    def test_a_lease_across_the_change_holds_with_a_utc_clock(self, engine: Engine, clock: FixedClock) -> None:
        """A clock in UTC (any zone is allowed) at 02:58+02:00: one minute later w2 must find the message leased."""
        clock.set(_FIRST_PASS)
        self._assert_w2_waits(queue_reminders(engine), clock, advance=timedelta(minutes=1))

    @staticmethod
    def _assert_w2_waits(engine: Engine, clock: FixedClock, *, advance: timedelta) -> None:
        second = Recorder()
        w2 = worker(engine.store, second, clock, "w2")

        def meanwhile() -> None:
            if advance:  # (adding even zero to a Stockholm datetime would reset its fold)
                clock.advance(advance)
            counts(w2)

        first = Recorder(on_first_send=meanwhile)
        counts(worker(engine.store, first, clock, "w1"))
        assert [] == second.delivered_ids
        assert 9 == len(first.delivered_ids)


class TestDigest:
    def test_one_digest_per_coordinator_contact_listing_the_open_parties(
        self, recommended: Engine, clock: FixedClock
    ) -> None:
        """Each of the coordinator's contacts gets one digest due at the minute listing the undecided parties, if any."""
        recommended.add_contact(Contact(id="c-region-1", party=COORDINATOR))
        recommended.add_contact(Contact(id="c-region-2", party=COORDINATOR))
        recommended.add_contact(Contact(id="c-2380", party=PARTY))
        recommended.decide(KEY, PARTY, outcome="approved", paragraph="§ 88", on=date(2022, 9, 20))

        recommended.queue_digests(local(2022, 9, 26, 7, 0, 12))
        digests = recommended.outbox()
        assert [("", COORDINATOR, "digest", local(2022, 9, 26, 7, 0), "c-region-1", "queued")] == [
            (o.recommendation, o.party, o.kind, o.due_at, o.contact_id, o.status) for o in digests[:1]
        ]
        assert ["c-region-1", "c-region-2"] == [o.contact_id for o in digests]
        items = digests[0].details["items"]
        assert [p for p in PARTIES if p != PARTY] == [item["party"] for item in items]
        assert {(KEY, "2022-09-30", False)} == {(i["recommendation"], i["reply_by"], i["overdue"]) for i in items}
        assert "Krokoms kommun" == items[0]["party_name"]
        assert digests[0].details == digests[1].details

        for party in PARTIES[1:]:
            recommended.decide(KEY, party, outcome="approved", paragraph="§ 1", on=date(2022, 9, 27))
        recommended.queue_digests(local(2022, 9, 28, 7, 0))
        assert 2 == len(recommended.outbox())  # nobody left to chase: no digest

    def test_queued_once_per_minute_from_any_engine(self, recommended: Engine, store_url: str) -> None:
        """A second call in the same minute, or from another engine on the database, adds no row."""
        recommended.queue_digests(local(2022, 10, 3, 7, 0))
        assert [""] == [o.contact_id for o in recommended.outbox()]  # no contacts: one row, to contact ""
        before = recommended.store.dump()
        recommended.queue_digests(local(2022, 10, 3, 7, 0, 40))
        with Engine.open(store_url, clock=FixedClock(local(2022, 10, 3, 7, 0, 2))) as other:
            other.queue_digests(datetime(2022, 10, 3, 5, 0, 1, tzinfo=UTC))  # the same minute, in UTC
        assert before == recommended.store.dump()
        recommended.queue_digests(local(2022, 10, 4, 7, 0))
        assert [local(2022, 10, 3, 7, 0), local(2022, 10, 4, 7, 0)] == [o.due_at for o in recommended.outbox()]

    def test_queue_digests_counts_the_new_rows(self, recommended: Engine) -> None:
        """queue_digests answers how many digests were new: one per contact the first time, none the second."""
        recommended.add_contact(Contact(id="c-region-1", party=COORDINATOR))
        recommended.add_contact(Contact(id="c-region-2", party=COORDINATOR))
        assert 2 == recommended.queue_digests(local(2022, 10, 3, 7, 0))
        assert 0 == recommended.queue_digests(local(2022, 10, 3, 7, 0, 30))

    def test_two_daemons_firing_the_same_cron_run_queue_one_digest(self, recommended: Engine, store_url: str) -> None:
        """Two daemons run the 07:00 digest job, one of them 70 seconds late: the coordinator gets one digest."""
        settings = DaemonSettings(digest_cron="0 7 * * mon-fri")
        for started in (local(2022, 10, 3, 7, 0, 1), local(2022, 10, 3, 7, 1, 10)):
            with Engine.open(store_url, clock=FixedClock(started)) as engine:
                delivery = OutboxDelivery(engine.store, LogNotifier(), clock=engine.clock, worker=f"d-{started}")
                SchedulerDaemon(engine, delivery, settings)._digest_job()
        assert 1 == len(recommended.outbox())
