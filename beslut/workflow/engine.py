"""The application layer: one method per command, each one transaction.

Every command follows the same four steps, in :meth:`Engine._command`:
**load** the case (holding its row), **check** and decide with the pure domain
functions of :mod:`beslut.states.case` (which return events), **fire** the events
through :func:`~beslut.states.case.apply` (the machines), and **save** the new
state, the audit events and the deadline rows in the same transaction. A refusal
raises before anything is written, and any exception rolls the transaction back,
so a refused command leaves the database exactly as it was.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from beslut import failpoints
from beslut.clock import CLOCK_TOLERANCE, STOCKHOLM, Clock, SystemClock, later, today
from beslut.errors import AuditVerificationFailed, BeslutError, ConcurrencyConflict, Duplicate, InvalidInput, NotFound
from beslut.states import case as domain
from beslut.states import commands
from beslut.states.actors import actor_id
from beslut.states.audit_chain import AuditRecord
from beslut.states.calendar import BusinessCalendar, local_date
from beslut.states.case import Case, Event
from beslut.states.commands import Command, In
from beslut.states.deadlines import REMINDER_KINDS, DeadlineRow, deadline_changes, deadlines_for
from beslut.states.digest import digest_entries
from beslut.states.escalations import recount_escalations
from beslut.states.records import OUTBOX_STATUSES, Contact, Heartbeat, OutboxRecord
from beslut.states.reminders import plan_reminder
from beslut.states.replay import replay_stream
from beslut.states.spec import RecommendationSpec, parse_spec_text
from beslut.states.verification import LogVerifier, Verdict
from beslut.workflow._gc_pause import collector_paused
from beslut.workflow.audit_log import read_log, records_before
from beslut.workflow.batch import BatchResult, PartyStep, check_steps, name_item, naming_item, step_events
from beslut.workflow.ports import Store, UnitOfWork, open_store

TICK_BATCH = 100
TIMER_LEASE = timedelta(minutes=5)
EARLIEST_TICK = datetime(1900, 1, 1, tzinfo=UTC)
MAX_LIMIT = 1_000_000


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """What a command did: the case after it, and the audit records it appended."""

    case: Case
    records: tuple[AuditRecord, ...]

    @property
    def version(self) -> int:
        """The recommendation's version after the command (for optimistic concurrency)."""
        return self.case.version


@dataclass(frozen=True, kw_only=True)
class Fired:
    """One deadline that tick handled: done (events appended) or cancelled (nothing left to do)."""

    deadline: DeadlineRow
    status: str
    records: tuple[AuditRecord, ...] = field(default=())
    messages: int = 0
    skipped: int = 0


class Engine:
    """The embeddable API of `beslut`: every command of the CLI, with the same refusals as exceptions.

    Args:
        store: where recommendations, deadlines and the audit log live.
        clock: where "now" comes from (recorded_at, and refusing legal dates in the future).
        calendar: the business calendar for rolling dates.
        actor: the id recorded in audit events as who acted; ids only, never names
            (:func:`beslut.states.actors.actor_id`: 1-64 letters, digits and ``. _ : -``).
        pause_gc: switch the process's cyclic garbage collector off while :meth:`batch` runs
            (:mod:`beslut.workflow._gc_pause`); only for a process of its own, such as ``beslut party import``.

    Raises:
        InvalidInput: *actor* is not an id (a name, an e-mail address, empty, too long).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        calendar: BusinessCalendar | None = None,
        actor: str = "api",
        pause_gc: bool = False,
    ) -> None:
        self.actor = actor_id(actor)  # first: a refused actor leaves nothing half made
        self.pause_gc = pause_gc
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.calendar = calendar or BusinessCalendar()

    @classmethod
    def open(cls, target: str | Path | None = None, **options: Any) -> Engine:
        """Open an engine on a file path or database URL (:func:`beslut.persistence.open_store`, through the ports)."""
        if "actor" in options:  # refused before the store is opened: an SQLite file must not appear
            actor_id(options["actor"])
        store = open_store(target)
        try:
            return cls(store, **options)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ set-up

    def init(self) -> bool:
        """Create the schema if missing; return True if it was created."""
        return self.store.create_schema()

    # ------------------------------------------------------------ commands

    def propose(self, spec: RecommendationSpec | str, *, on: date | None = None) -> CommandResult:
        """Register a new recommendation from a spec (or its TOML text); *on* defaults to today."""
        if isinstance(spec, str):
            spec = parse_spec_text(spec)
        now = self._now()
        on = on or today(self.clock)
        event = self._stamp(domain.propose(spec, on=on, today=today(self.clock)))
        with self.store.unit_of_work() as uow:
            if uow.load_case(spec.key) is not None:
                raise Duplicate(f"recommendation {spec.key!r} already exists")
            if spec.supersedes is not None and uow.load_case(spec.supersedes) is None:
                raise NotFound(f"spec field 'supersedes': no recommendation {spec.supersedes!r}")
            case = domain.apply(None, event, self.calendar)
            uow.add_case(case, now=now)
            failpoints.hit("engine.after_save_case")
            uow.sync_deadlines(case.key, deadlines_for(case), now=now)
            failpoints.hit("engine.after_sync_deadlines")
            records = uow.append_events([event], recorded_at=now)  # last: see _save
            failpoints.hit("engine.after_append_events")
        return CommandResult(case=case, records=tuple(records))

    def run(self, command: Command[In], key: str, args: In, *, expected_version: int | None = None) -> CommandResult:
        """Run *command* of the table (:mod:`beslut.states.commands`) on recommendation *key*: one transaction.

        The named methods below are this with the command's input spelled out as keywords.
        """
        return self._command(key, expected_version, lambda c, t: command.run(c, args, t, self.calendar))

    def recommend(self, key: str, *, on: date, expected_version: int | None = None) -> CommandResult:
        """Send the recommendation to the parties: their decisions open."""
        return self.run(commands.RECOMMEND, key, commands.Act(on=on), expected_version=expected_version)

    def withdraw(self, key: str, *, on: date, reason: str, expected_version: int | None = None) -> CommandResult:
        """Withdraw a proposed or recommended recommendation."""
        args = commands.Withdraw(on=on, reason=reason)
        return self.run(commands.WITHDRAW, key, args, expected_version=expected_version)

    def prepare(
        self, key: str, party: str, *, case_number: str, on: date, expected_version: int | None = None
    ) -> CommandResult:
        """A party opened its case (diarienummer, tjänsteskrivelse date)."""
        args = commands.Prepare(party=party, case_number=case_number, on=on)
        return self.run(commands.PREPARE, key, args, expected_version=expected_version)

    def propose_party(
        self, key: str, party: str, *, body: str, paragraph: str, on: date, expected_version: int | None = None
    ) -> CommandResult:
        """A committee of the party proposed a decision."""
        args = commands.ProposeParty(party=party, body=body, paragraph=paragraph, on=on)
        return self.run(commands.PROPOSE_PARTY, key, args, expected_version=expected_version)

    def decide(
        self,
        key: str,
        party: str,
        *,
        outcome: str,
        paragraph: str,
        on: date,
        body: str | None = None,
        conditions: str | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """The party's deciding body decided (approved, rejected or approved_with_conditions)."""
        args = commands.Decide(
            party=party, outcome=outcome, paragraph=paragraph, on=on, body=body, conditions=conditions
        )
        return self.run(commands.DECIDE, key, args, expected_version=expected_version)

    def announce(self, key: str, party: str, *, on: date, expected_version: int | None = None) -> CommandResult:
        """The party's signed minutes were announced on its notice board; the appeal period starts."""
        args = commands.PartyAct(party=party, on=on)
        return self.run(commands.ANNOUNCE, key, args, expected_version=expected_version)

    def appeal(self, key: str, party: str, *, on: date, expected_version: int | None = None) -> CommandResult:
        """An appeal against the party's decision was lodged."""
        args = commands.PartyAct(party=party, on=on)
        return self.run(commands.APPEAL, key, args, expected_version=expected_version)

    def settle(
        self, key: str, party: str, *, result: str, on: date, expected_version: int | None = None
    ) -> CommandResult:
        """The court ruled on the appeal: ``dismissed`` (final) or ``annulled`` (decide again)."""
        args = commands.Settle(party=party, result=result, on=on)
        return self.run(commands.SETTLE, key, args, expected_version=expected_version)

    def report(self, key: str, party: str, *, on: date, expected_version: int | None = None) -> CommandResult:
        """The coordinator received the party's minute extract."""
        args = commands.PartyAct(party=party, on=on)
        return self.run(commands.REPORT, key, args, expected_version=expected_version)

    def consolidate(self, key: str, *, on: date, expected_version: int | None = None) -> CommandResult:
        """Count the decisions; an adopted agreement whose in-force date has come enters into force."""
        return self.run(commands.CONSOLIDATE, key, commands.Act(on=on), expected_version=expected_version)

    def batch(self, steps: Sequence[PartyStep]) -> BatchResult:
        """Run many party steps, on many recommendations, in ONE transaction: all or nothing.

        The result equals running the steps one by one in the given order (same states,
        same audit events and hash chain, all recorded at one instant), but each case is
        loaded once (held, in key order so concurrent batches cannot deadlock), saved
        once and has its deadlines synced once, and the events go in as one multi-row
        insert: the per-command round trips are what limit throughput, not the domain.
        A refusal names the item (index, action, key, party), keeps its class (exit
        code) and writes nothing. The same (action, key, party) twice is refused.
        """
        if not self.pause_gc:  # the collector is the host's: left alone unless the caller asked
            return self._batch(steps)
        with collector_paused():
            return self._batch(steps)

    def _batch(self, steps: Sequence[PartyStep]) -> BatchResult:
        check_steps(steps)
        if not steps:
            return BatchResult(cases=(), records=())
        now = self._now()
        today_ = local_date(now)
        with self.store.unit_of_work() as uow:
            before: dict[str, Case] = {}
            first_item = {step.key: index for index, step in reversed(list(enumerate(steps)))}
            for key in sorted(first_item):
                with naming_item(first_item[key], steps[first_item[key]]):
                    before[key] = self._load(uow, key)
            current = dict(before)
            events: list[Event] = []
            index = 0
            try:  # one handler for the whole loop, not a context manager per step (cheaper per step)
                for index, step in enumerate(steps):  # noqa: B007 - the handler below names steps[index]
                    case = current[step.key]
                    if step.expected_version is not None and step.expected_version != case.version:
                        raise ConcurrencyConflict(
                            f"recommendation {step.key!r} is at version {case.version}, "
                            f"not {step.expected_version}: reload and try again"
                        )
                    for event in step_events(step, case, today_, self.calendar):
                        stamped = self._stamp(event)
                        case = domain.apply(case, stamped, self.calendar)
                        events.append(stamped)
                    current[step.key] = case
            except BeslutError as error:
                name_item(error, index, steps[index])
                raise
            self._batch_consequences(uow, before, current, events, now)
            for key, old in before.items():
                uow.save_case(current[key], expected_version=old.version, now=now)
            failpoints.hit("engine.after_save_case")
            records = uow.append_events(events, recorded_at=now)
            failpoints.hit("engine.after_append_events")
            for key, old in before.items():
                # Only the parties whose timers changed: the rows already match deadlines_for(old).
                changes = deadline_changes(old, current[key])
                if changes:
                    uow.sync_party_deadlines(key, changes, now=now)
            failpoints.hit("engine.after_sync_deadlines")
        return BatchResult(cases=tuple(current[key] for key in before), records=tuple(records))

    def _batch_consequences(
        self, uow: UnitOfWork, before: dict[str, Case], current: dict[str, Case], events: list[Event], now: datetime
    ) -> None:
        """What a single command does after its events, for a batch's cases: supersede, escalate.

        A step that brought a revision into force supersedes the agreement it revises (added to
        *before*, *current* and *events*); a recount that left an agreement not adopted queues
        the coordinator's escalation.
        """
        by_stream: dict[str, list[Event]] = {}
        for event in events:
            by_stream.setdefault(event.stream, []).append(event)
        for key in list(before):
            superseded = self._supersession(uow, current[key], by_stream.get(key, ()), known=current)
            if superseded is not None:
                old_case, new_old, follow = superseded
                before.setdefault(old_case.key, old_case)
                current[old_case.key] = new_old
                events.extend(follow)
        for key, old in before.items():
            self._queue_escalations(uow, old, current[key], by_stream.get(key, ()), now)

    def tick(
        self,
        now: datetime,
        *,
        worker: str | None = None,
        limit: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        lease: timedelta = TIMER_LEASE,
        progress: Callable[[int], None] | None = None,
    ) -> list[Fired]:
        """Fire every timer due at *now*: transitions (overdue, laga kraft, in force) and reminders.

        Each timer is fired in its own transaction, after being leased to *worker* in a
        short one, so several daemons can tick one database and a crashed daemon's
        timers are taken over when its lease runs out. Idempotent: a second tick at the
        same instant changes nothing. Refuses an instant in the future of the engine's
        clock: a transition is never fired early. Stops early after *limit* timers or
        when *should_stop* says so (a daemon being shut down). *progress* is told how many timers
        were handled after each one (the CLI reports long ticks on stderr).
        """
        if now.tzinfo is None:
            raise InvalidInput("tick needs an instant with a time zone")
        if now > self.clock.now() + CLOCK_TOLERANCE:
            raise InvalidInput(f"tick at {now.isoformat()} is in the future (now {self._now().isoformat()})")
        if now < EARLIEST_TICK:  # nothing can be due then, and instants near year 1 overflow in UTC
            raise InvalidInput(f"tick at {now.isoformat()} is before {EARLIEST_TICK.year}")
        worker = worker or f"tick-{os.getpid()}"
        fired: list[Fired] = []
        known: dict[str, Case] = {}  # each recommendation as last committed here: reread only if its version moved
        while limit is None or len(fired) < limit:
            wall = self._now()
            with self.store.unit_of_work() as uow:
                claimed = uow.claim_due_deadlines(
                    now,
                    now=wall,
                    worker=worker,
                    lease_until=later(wall, lease),
                    limit=TICK_BATCH if limit is None else min(TICK_BATCH, limit - len(fired)),
                )
            if not claimed:
                break
            failpoints.hit("engine.tick_after_claim")
            for row in claimed:
                if should_stop is not None and should_stop():
                    self.release_claims(worker)  # hand what we hold to the next daemon at once
                    return fired
                result = self._fire(row, now, worker, known)
                failpoints.hit("engine.tick_after_fire")
                if result is not None:
                    fired.append(result)
                if progress is not None:
                    progress(len(fired))
        return fired

    def release_claims(self, worker: str) -> int:
        """Give up every timer and message *worker* has leased but not handled (a daemon stopping)."""
        with self.store.unit_of_work() as uow:
            return uow.release_claims(worker)

    def queue_digests(self, at: datetime) -> int:
        """Queue the coordinators' digests for the scheduled instant *at*; return how many were new."""
        recorded = self._now()
        with self.store.unit_of_work() as uow:
            entries = digest_entries(uow.list_cases(), at=at, contacts_of=uow.contacts_of)
            return uow.queue_messages(entries, now=recorded)

    def add_contact(self, contact: Contact) -> None:
        """Add or replace a contact (a person who receives a party's reminders)."""
        for label, value in (
            ("contact id", contact.id),
            ("party key", contact.party),
            ("--name", contact.name),
            ("--email", contact.email),
        ):
            if value is not None and _CONTROL_CHARACTER.search(value):
                raise InvalidInput(f"{label} contains a control character")
        if not contact.id.strip() or len(contact.id) > 64:
            raise InvalidInput("contact id must be 1-64 characters")
        # The column widths (party 64, name 200, e-mail 320): PostgreSQL refuses longer values with a database error.
        if not contact.party.strip() or len(contact.party) > 64:
            raise InvalidInput("the party key must be 1-64 characters")
        if contact.name is not None and len(contact.name) > 200:
            raise InvalidInput("--name is longer than 200 characters")
        if contact.email is not None and len(contact.email) > 320:
            raise InvalidInput("--email is longer than 320 characters")
        if contact.email is not None and ("@" not in contact.email or any(c.isspace() for c in contact.email)):
            raise InvalidInput(f"--email {contact.email[:80]!r} is not an e-mail address")
        with self.store.unit_of_work() as uow:
            if contact.party not in uow.known_parties():  # as `token create --party`: no contact for a typo
                raise NotFound(f"no party {contact.party!r} in any recommendation: propose one that names it first")
            uow.put_contact(contact)

    def contacts(self) -> list[Contact]:
        """Every contact, by party then id."""
        with self.store.reader() as reader:
            return reader.list_contacts()

    def outbox(self, *, status: str | None = None, limit: int | None = None) -> list[OutboxRecord]:
        """Outbox messages, by due instant."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise InvalidInput(f"--status must be one of {', '.join(OUTBOX_STATUSES)}, got {status!r}")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:  # SQLite reads -1 as "all"; 2**64 overflows
            raise InvalidInput(f"--limit must be between 1 and {MAX_LIMIT}, got {limit}")
        with self.store.reader() as reader:
            return reader.outbox(status=status, limit=limit)

    def heartbeats(self) -> list[Heartbeat]:
        """The scheduler daemons' last heartbeats."""
        with self.store.reader() as reader:
            return reader.heartbeats()

    def beat(self, heartbeat: Heartbeat) -> None:
        """Record a daemon's heartbeat."""
        with self.store.unit_of_work() as uow:
            uow.beat(heartbeat)

    # ------------------------------------------------------------ queries

    def case(self, key: str) -> Case:
        """The recommendation *key*.

        Raises:
            NotFound: no such recommendation.
        """
        with self.store.reader() as reader:
            found = reader.load_case(key)
        if found is None:
            raise NotFound(f"no recommendation {key!r}")
        return found

    def cases(self) -> list[Case]:
        """Every recommendation, oldest proposal first."""
        with self.store.reader() as reader:
            return reader.list_cases()

    def iter_cases(self, *, page_size: int = 200) -> Iterator[Case]:
        """Every recommendation, oldest proposal first, *page_size* at a time from one read snapshot.

        Why: :meth:`cases` holds them all, so `status` of every recommendation grew without bound
        with the database (docs/performance.md, bench_scale). This reads keyset pages inside ONE read
        transaction, so the whole answer is one consistent snapshot while memory stays at a page.
        """
        if page_size < 1:
            raise InvalidInput(f"page size must be at least 1, got {page_size}")
        with self.store.reader() as reader:
            after: tuple[date, str] | None = None
            while True:
                page = reader.cases_page(limit=page_size, after=after)
                yield from page
                if len(page) < page_size:
                    return
                after = (page[-1].proposed_on, page[-1].key)

    def audit_log(self, key: str | None = None) -> list[AuditRecord]:
        """The audit events (of one recommendation, or all), oldest first."""
        with self.store.reader() as reader:
            if key is not None and reader.load_case(key) is None:
                raise NotFound(f"no recommendation {key!r}")
            return list(reader.audit_records(key))

    def deadlines(self, *, status: str | None = "pending", key: str | None = None) -> list[DeadlineRow]:
        """Deadline rows (pending ones by default), soonest first."""
        with self.store.reader() as reader:
            return reader.deadlines(status=status, recommendation=key)

    def replay(self, key: str) -> Case:
        """Rebuild the recommendation from its audit events alone, by the one replay the auditor's tools use.

        Raises:
            NotFound: the log has no events for *key*.
            AuditVerificationFailed: an event is not the legal next event of its stream.
        """
        with self.store.reader() as reader:
            try:
                case = replay_stream(reader.audit_records(key), self.calendar)
            except ValueError as error:
                raise AuditVerificationFailed(f"audit log of {key!r} does not replay: {error}") from None
        if case is None:
            raise NotFound(f"no audit events for {key!r}")
        return case

    def verify_audit(self) -> Verdict:
        """Verify the whole audit log as `beslut audit verify` does (without a checkpoint): same checks, same verdict.

        Each row in seq order must be readable, extend the hash chain (seq and stream_seq gap-free, links,
        canonical payload, hash of the content), be a legal transition and be what its command would have
        recorded (:class:`~beslut.states.verification.LogVerifier`, with this engine's calendar); the first
        that fails is named. One read snapshot, at most 512 cases in memory. The result keeps the chain
        report's attributes (``ok``, ``events``, ``head_seq``, ``head_hash``, ``first_bad_seq``,
        ``problem``) and adds ``failed_check``, ``streams`` and ``checks``.
        """
        with self.store.reader() as reader:
            verifier = LogVerifier(self.calendar, loader=functools.partial(records_before, reader))
            return verifier.run(read_log(reader))

    # ------------------------------------------------------------ the command skeleton

    def _command(
        self,
        key: str,
        expected_version: int | None,
        decide: Callable[[Case, date], list[Event]],
    ) -> CommandResult:
        now = self._now()
        with self.store.unit_of_work() as uow:
            case = self._load(uow, key)
            if expected_version is not None and expected_version != case.version:
                raise ConcurrencyConflict(
                    f"recommendation {key!r} is at version {case.version}, not {expected_version}: reload and try again"
                )
            events = [self._stamp(e) for e in decide(case, local_date(now))]
            new_case, records = self._save(uow, case, events, now)
        return CommandResult(case=new_case, records=tuple(records))

    def _save(
        self, uow: UnitOfWork, case: Case, events: Sequence[Event], now: datetime
    ) -> tuple[Case, list[AuditRecord]]:
        """Fire *events* on *case* and on any case they supersede; save states, deadlines and events.

        The events go in last. On PostgreSQL appending takes the audit-append lock, which every
        writer of the database needs and which is held until COMMIT (so seq is assigned in commit
        order): whatever runs after it runs one writer at a time. Syncing the deadlines after the
        append kept a SELECT, sometimes an UPDATE or INSERT, and the deadline arithmetic inside that
        lock, and with several writers the lock was what bounded throughput (bench/bench_writers.py,
        docs/performance.md, bench_writers).
        """
        new_case = case
        for event in events:
            new_case = domain.apply(new_case, event, self.calendar)
        changed = [(case, new_case)]
        all_events = list(events)
        superseded = self._supersession(uow, new_case, events)
        if superseded is not None:
            changed.append(superseded[:2])
            all_events.extend(superseded[2])
        self._queue_escalations(uow, case, new_case, events, now)
        for before, after in changed:
            uow.save_case(after, expected_version=before.version, now=now)
        failpoints.hit("engine.after_save_case")
        for before, after in changed:
            # Only the parties whose timers changed (the rows already match the case's deadlines before the
            # change), as the batch does: syncing the whole case read every timer row of the recommendation
            # and derived every party's timers twice, per command and per fired timer.
            changes = deadline_changes(before, after)
            if changes:
                uow.sync_party_deadlines(after.key, changes, now=now)
        failpoints.hit("engine.after_sync_deadlines")
        records = uow.append_events(all_events, recorded_at=now)
        failpoints.hit("engine.after_append_events")
        return new_case, records

    def _supersession(
        self, uow: UnitOfWork, revision: Case, events: Sequence[Event], *, known: Mapping[str, Case] | None = None
    ) -> tuple[Case, Case, list[Event]] | None:
        """When *events* brought the revision into force: the agreement it replaces, before and after, and the events.

        *known*: cases this transaction already holds (a batch's), used as they stand instead of loaded again.
        """
        revised = revision.spec.supersedes
        entered = next((e for e in events if e.kind == "recommendation.in_force"), None)
        if entered is None or revised is None:
            return None
        old = known[revised] if known is not None and revised in known else self._load(uow, revised)
        follow = [self._stamp(e) for e in domain.supersede(old, by=revision.key, on=entered.valid_on)]
        if not follow:
            return None
        new_old = old
        for event in follow:
            new_old = domain.apply(new_old, event, self.calendar)
        return old, new_old, follow

    def _queue_escalations(
        self, uow: UnitOfWork, before: Case, after: Case, events: Sequence[Event], now: datetime
    ) -> None:
        """Tell the coordinator, in the same transaction, when a recount left the agreement no longer adopted."""
        if domain.adoption_lost(before, after):
            contacts = uow.contacts_of(after.spec.coordinator)
            entries = recount_escalations(before, after, events, at=now, coordinator_contacts=contacts)
            uow.queue_messages(entries, now=now)

    def _fire(self, claimed: DeadlineRow, due_by: datetime, worker: str, known: dict[str, Case]) -> Fired | None:
        """Fire one leased timer in one transaction; None if another worker got to it first.

        *known* holds each recommendation as this tick last committed it; it is updated only after
        a commit, and the store takes a case from it only while the stored version is the same.
        """
        recorded = self._now()
        key = claimed.recommendation
        with self.store.unit_of_work() as uow:
            case = uow.load_case_for_update(key, known=known.get(key))  # the case first, then the timer: one lock order
            if case is None:
                raise NotFound(f"no recommendation {key!r}")
            timer = uow.deadline_for_update(claimed.id)
            if timer is None or timer.status != "pending" or timer.claimed_by != worker:
                return None
            if timer.kind in REMINDER_KINDS:
                fired = self._fire_reminder(uow, case, timer, due_by, recorded)
            else:
                on = local_date(timer.due_at)
                events = [self._stamp(e, actor="scheduler") for e in _events_for_deadline(case, timer, on)]
                # Close the row first, so syncing the case's deadlines below sees it done, not pending and unwanted.
                status = "done" if events else "cancelled"
                uow.close_deadline(timer.id, status=status, now=recorded)
                records: list[AuditRecord] = []
                if events:
                    case, records = self._save(uow, case, events, recorded)
                fired = Fired(deadline=timer, status=status, records=tuple(records))
        known[key] = case  # committed
        return fired

    def _fire_reminder(
        self, uow: UnitOfWork, case: Case, timer: DeadlineRow, due_by: datetime, recorded: datetime
    ) -> Fired:
        """Queue the reminder's messages (coalescing a missed ladder) and arm the series' next timer."""
        assert timer.party is not None
        newer = timer.kind == "remind_before" and (
            uow.later_ladder_rows(case.key, timer.party, after=timer.due_at, until=due_by) > 0
        )
        plan = plan_reminder(
            case,
            timer,
            due_by=due_by,
            newer_in_ladder=newer,
            party_contacts=uow.contacts_of(timer.party),
            coordinator_contacts=uow.contacts_of(case.spec.coordinator),
        )
        uow.close_deadline(timer.id, status=plan.status, now=recorded)
        uow.queue_messages(plan.entries, now=recorded)
        if plan.next_timer is not None:
            uow.add_deadline(plan.next_timer)
        queued = sum(1 for entry in plan.entries if entry.status == "queued")
        return Fired(deadline=timer, status=plan.status, messages=queued, skipped=plan.skipped)

    def _load(self, uow: UnitOfWork, key: str) -> Case:
        case = uow.load_case_for_update(key)
        if case is None:
            raise NotFound(f"no recommendation {key!r}")
        return case

    def _stamp(self, event: Event, *, actor: str | None = None) -> Event:
        """Record who acted (an id) in the event's payload."""
        return replace(event, payload={**event.payload, "actor": actor or self.actor})

    def _now(self) -> datetime:
        return self.clock.now().astimezone(STOCKHOLM)


def _events_for_deadline(case: Case, deadline: DeadlineRow, on: date) -> list[Event]:
    if deadline.kind == "reply_by" and deadline.party is not None:
        return domain.mark_overdue(case, deadline.party, on=on)
    if deadline.kind == "appeal_ends" and deadline.party is not None:
        return domain.make_final(case, deadline.party, on=on)
    if deadline.kind == "in_force":
        return domain.enter_into_force(case, on=on)
    return []


# C0/C1 control characters and NUL in a contact: PostgreSQL refuses NUL in text outright (a store error,
# exit 1, where SQLite would store it), so both stores refuse them here, before any write, as one contract.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
