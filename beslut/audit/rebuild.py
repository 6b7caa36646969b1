"""`audit replay --into`: a fresh database rebuilt from the audit log alone.

Why: an auditor (or a restore drill) wants proof that the log is enough, i.e. that a
database made from nothing but the events holds the same recommendations, and whose
own `audit verify` passes. So the target gets:

- the audit events **verbatim** (same seq, stream_seq, recorded_at, payload text and
  hashes). They are written through the store's own ``append_events`` in the source's
  order and with the source's recorded instants, which seals them exactly as the live
  system did; every record it returns is compared field by field with the source row,
  and any difference aborts the whole write (so "verbatim" is checked, not assumed);
- every recommendation with its parties as the replay leaves it (the same
  :func:`beslut.states.case.apply` the live system runs), ``updated_at`` being the
  instant its last event was recorded;
- the pending timers the scheduler derives from each case (``deadlines_for``). What the
  log does not hold is not invented: closed timers, reminder ladders already fired, the
  outbox, contacts and heartbeats stay behind (docs/auditor.md).

The source is read in two read-only passes: the first checks the whole log (chain and
every transition) before anything is written, so a broken log leaves the target as it
was; the second copies it in one write transaction of the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from beslut.audit.chain import ChainChecker
from beslut.audit.replay import Replayer, recorded_instant
from beslut.audit.source import read_log
from beslut.errors import AuditVerificationFailed
from beslut.persistence import Reader, Store, UnitOfWork
from beslut.scheduler.deadlines import deadlines_for
from beslut.states.audit_chain import AuditRecord
from beslut.states.case import Event

_BATCH = 2000  # events per append_events call at most (one recorded instant per call)


@dataclass(frozen=True)
class Rebuilt:
    """What was written to the target."""

    events: int
    recommendations: int
    deadlines: int


def checked_log(reader: Reader) -> Iterator[tuple[AuditRecord, Any, Replayer]]:
    """The source's records in seq order, each with its parsed payload, after the chain and replay checks.

    Raises:
        AuditVerificationFailed: a row is unreadable, breaks the chain or is not a legal transition.
    """
    chain = ChainChecker()
    replayer = Replayer()
    for row in read_log(reader):
        if row.problem is not None:
            raise AuditVerificationFailed(f"audit log broken at seq {chain.expected_seq}: {row.problem}")
        record = row.record
        problem, payload = chain.check(record)
        if problem is None:
            problem = replayer.feed(record, payload)
        if problem is not None:
            raise AuditVerificationFailed(f"audit log broken at seq {chain.expected_seq}: {problem}")
        chain.accept(record)
        yield record, payload, replayer


def check_source(source: Store) -> int:
    """Check the whole source log without writing anything; return how many events it has."""
    count = 0
    with source.reader() as reader:
        for _ in checked_log(reader):
            count += 1
    return count


def rebuild_into(source: Store, target: Store) -> Rebuilt:
    """Check the source log, then write its events, recommendations and timers into the empty *target*.

    The caller has made sure the target holds nothing (the CLI refuses otherwise).

    Raises:
        AuditVerificationFailed: the source log does not verify (nothing written), or a copied
            event would differ from its source row (the write is rolled back).
    """
    check_source(source)
    target.create_schema()
    with source.reader() as reader, target.unit_of_work() as uow:
        return _copy(reader, uow)


def _copy(reader: Reader, uow: UnitOfWork) -> Rebuilt:
    records: list[AuditRecord] = []
    payloads: list[Any] = []
    last_recorded: dict[str, str] = {}
    replayer: Replayer | None = None
    events = 0
    for record, payload, replayer in checked_log(reader):  # noqa: B007 - one replayer, used after the loop
        if records and (records[-1].recorded_at != record.recorded_at or len(records) >= _BATCH):
            events += _append(uow, records, payloads)
            records, payloads = [], []
        records.append(record)
        payloads.append(payload)
        last_recorded[record.stream] = record.recorded_at
    if records:
        events += _append(uow, records, payloads)
    deadlines = 0
    cases = replayer.cases if replayer is not None else {}
    for key, case in cases.items():
        now = datetime.fromisoformat(last_recorded[key])
        uow.add_case(case, now=now)
        wanted = deadlines_for(case)
        uow.sync_deadlines(key, wanted, now=now)
        deadlines += len(wanted)
    return Rebuilt(events=events, recommendations=len(cases), deadlines=deadlines)


def _append(uow: UnitOfWork, records: list[AuditRecord], payloads: list[Any]) -> int:
    """Append events recorded at one instant; refuse unless the store sealed each exactly as its source row."""
    events = [
        Event(kind=r.kind, stream=r.stream, valid_on=date.fromisoformat(r.valid_on), payload=p)
        for r, p in zip(records, payloads, strict=True)
    ]
    written = uow.append_events(events, recorded_at=recorded_instant(records[0]))
    for source, copy in zip(records, written, strict=True):
        if copy != source:
            differing = [name for name, value in vars(source).items() if vars(copy)[name] != value]
            raise AuditVerificationFailed(
                f"seq {source.seq} cannot be copied verbatim: its {', '.join(differing)} would differ "
                "(a stored value not in the form the log writes); nothing was written"
            )
    return len(written)
