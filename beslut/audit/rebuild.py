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

The source is read in read-only snapshots: the first checks the whole log (chain and
every transition, stream by stream as `audit replay` does) before anything is written, so
a broken log leaves the target as it was; the second copies the events in seq order
(checking the chain again) and then folds each stream on its own into its rows, all in
one write transaction of the target. Memory stays flat: one case at a time, and per
recommendation only its last recorded instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from beslut.audit.streams import replay_streams
from beslut.errors import AuditVerificationFailed
from beslut.persistence import Reader, Store, UnitOfWork
from beslut.states.audit_chain import AuditRecord, ChainChecker
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Event
from beslut.states.deadlines import deadlines_for
from beslut.states.replay import Replayer, recorded_instant
from beslut.workflow.audit_log import read_log

_BATCH = 2000  # events per append_events call at most (one recorded instant per call)


@dataclass(frozen=True)
class Rebuilt:
    """What was written to the target."""

    events: int
    recommendations: int
    deadlines: int


def check_source(source: Store) -> int:
    """Check the whole source log (chain and transitions, as `audit replay`) without writing; return its events.

    Raises:
        AuditVerificationFailed: the log is broken (names the first bad seq).
    """
    with source.reader() as reader:
        checked = replay_streams(reader, as_of_recorded=None, as_of_valid=None, check=False)
    checked.statuses.close()
    return checked.log_events


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
        last_recorded, events = _copy_events(reader, uow)
        recommendations, deadlines = _rebuild_cases(reader, uow, last_recorded)
    return Rebuilt(events=events, recommendations=recommendations, deadlines=deadlines)


def _copy_events(reader: Reader, uow: UnitOfWork) -> tuple[dict[str, str], int]:
    """Append every event, checking the chain again on the way; return each stream's last recorded instant."""
    chain = ChainChecker()
    records: list[AuditRecord] = []
    payloads: list[Any] = []
    last_recorded: dict[str, str] = {}
    events = 0
    for row in read_log(reader):
        problem, payload = (row.problem, None) if row.problem is not None else chain.check(row.record)
        if problem is not None:
            raise AuditVerificationFailed(f"audit log broken at seq {chain.expected_seq}: {problem}")
        record = row.record
        chain.accept(record)
        if records and (records[-1].recorded_at != record.recorded_at or len(records) >= _BATCH):
            events += _append(uow, records, payloads)
            records, payloads = [], []
        records.append(record)
        payloads.append(payload)
        last_recorded[record.stream] = record.recorded_at
    if records:
        events += _append(uow, records, payloads)
    return last_recorded, events


def _rebuild_cases(reader: Reader, uow: UnitOfWork, last_recorded: dict[str, str]) -> tuple[int, int]:
    """Fold each stream on its own (one case in memory at a time) and write its rows and pending timers."""
    calendar = BusinessCalendar()
    deadlines = 0
    for key, recorded_at in last_recorded.items():
        replayer = Replayer(calendar)
        for row in read_log(reader, stream=key):
            problem = row.problem or replayer.feed(row.record)
            if problem is not None:
                raise AuditVerificationFailed(f"audit log broken at seq {row.record.seq}: {problem}")
        case = replayer.cases[key]
        now = datetime.fromisoformat(recorded_at)
        uow.add_case(case, now=now)
        wanted = deadlines_for(case)
        uow.sync_deadlines(key, wanted, now=now)
        deadlines += len(wanted)
    return len(last_recorded), deadlines


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
