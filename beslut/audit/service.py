"""The auditor's operations on a store, as the CLI (and the scheduler daemon) call them.

Every function here only reads: the CLI opens the store read-only
(:func:`beslut.persistence.open_store` with ``read_only=True``), so even a bug here
could not write. Each operation runs in one read snapshot of the store.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beslut.audit import checkpoint as cp
from beslut.audit.export import Exported, write_package
from beslut.audit.parallel import replay_parallel, verify_parallel, worthwhile
from beslut.audit.proofs import Inclusion, prove_consistency, prove_inclusion
from beslut.audit.streams import Spool, replay_streams
from beslut.audit.verify import Report, Verifier
from beslut.errors import AuditVerificationFailed, InvalidInput, NotFound
from beslut.persistence import Store
from beslut.states.audit_chain import AuditRecord, Row
from beslut.states.replay import Difference, HeldBack
from beslut.workflow.audit_log import read_log, records_before


def verify_store(
    store: Store, *, checkpoint: cp.Checkpoint | None = None, source: str = "", parallel: bool | None = None
) -> Report:
    """Verify the whole log (chain, transitions, and the checkpoint if given); see :mod:`beslut.audit.verify`.

    *parallel*: on two processes (:mod:`beslut.audit.parallel`); None: when the log is big enough and
    there are two cores. Same report either way: a log that is not clean is always verified in one process.
    """
    with store.reader() as reader:
        if parallel is not False:
            last_seq = reader.audit_head_seq()
            if parallel or worthwhile(store, last_seq):
                report = verify_parallel(store, reader, checkpoint=checkpoint, source=source, last_seq=last_seq)
                if report is not None:
                    return report
        verifier = Verifier(
            checkpoint=checkpoint, checkpoint_source=source, loader=functools.partial(records_before, reader)
        )
        return verifier.run(read_log(reader))


def make_checkpoint(store: Store, private_key: Ed25519PrivateKey, *, now: datetime) -> cp.Checkpoint:
    """Verify the whole log, then sign a checkpoint of it (never of a log that does not verify).

    Raises:
        AuditVerificationFailed: the log does not verify (names the first bad seq).
        InvalidInput: the log is empty.
    """
    with store.reader() as reader:
        verifier = Verifier(loader=functools.partial(records_before, reader))
        report = verifier.run(read_log(reader))
    if not report.ok:
        raise AuditVerificationFailed(
            f"refusing to sign: audit log broken at seq {report.first_bad_seq}: {report.problem}"
        )
    if verifier.tree.size == 0 or verifier.log_id is None:
        raise InvalidInput("the audit log is empty: there is nothing to sign yet")
    return cp.sign(
        private_key=private_key,
        log_id=verifier.log_id,
        tree_size=verifier.tree.size,
        head_hash=verifier.head_hash,
        subtrees=[digest for _, _, digest in verifier.tree.frontier()],
        created_at=now,
    )


def _records(rows: Iterable[Row]) -> Iterator[AuditRecord]:
    for row in rows:
        yield row.record


def prove(store: Store, checkpoint: cp.Checkpoint, seqs: Iterable[int]) -> list[Inclusion]:
    """Inclusion proofs of the events *seqs* against *checkpoint* (one pass over the log)."""
    with store.reader() as reader:
        return prove_inclusion(_records(read_log(reader)), checkpoint, seqs)


def prove_extends(store: Store, old: cp.Checkpoint, new: cp.Checkpoint) -> dict[str, Any]:
    """The consistency proof from checkpoint *old* to *new*."""
    with store.reader() as reader:
        return prove_consistency(_records(read_log(reader)), old, new)


def stream_records(store: Store, key: str) -> list[AuditRecord]:
    """The events of one recommendation, as the log holds them.

    Raises:
        NotFound: the log has no events of *key* and there is no such recommendation.
        AuditVerificationFailed: a row of the stream cannot be read.
    """
    with store.reader() as reader:
        rows = list(read_log(reader, stream=key))
        if not rows and reader.load_case(key) is None:
            raise NotFound(f"no recommendation {key!r}")
    for row in rows:
        if row.problem is not None:
            raise AuditVerificationFailed(f"audit log broken at seq {row.record.seq}: {row.problem}")
    return [row.record for row in rows]


def log_records(store: Store, key: str | None) -> list[AuditRecord]:
    """The whole log or one stream, for `audit log` (rows that cannot be read are shown as they are)."""
    if key is not None:
        with store.reader() as reader:
            rows = list(read_log(reader, stream=key))
            if not rows and reader.load_case(key) is None:
                raise NotFound(f"no recommendation {key!r}")
        return [row.record for row in rows]
    with store.reader() as reader:
        return [row.record for row in read_log(reader)]


# ---------------------------------------------------------------- replay


@dataclass
class ReplayResult:
    """The recommendations rebuilt from the log (as of a time, if asked), and how they compare with the tables.

    ``statuses`` are the `status --json` documents, kept on a temporary file (memory stays flat
    however many recommendations there are; see :mod:`beslut.audit.streams`).
    """

    statuses: Spool
    events: int
    log_events: int
    as_of_recorded: datetime | None = None
    as_of_valid: date | None = None
    held_back: list[HeldBack] = field(default_factory=list)
    differences: list[Difference] | None = None

    def report(self) -> dict[str, Any]:
        """The `audit replay --json` document without its recommendations (which may be many)."""
        return {
            "as_of_recorded": self.as_of_recorded.isoformat() if self.as_of_recorded is not None else None,
            "as_of_valid": self.as_of_valid.isoformat() if self.as_of_valid is not None else None,
            "events": self.events,
            "log_events": self.log_events,
            "held_back": [h.as_dict() for h in self.held_back],
            "check": (
                {"ok": not self.differences, "differences": [d.as_dict() for d in self.differences]}
                if self.differences is not None
                else None
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        """The whole `audit replay --json` document: `status --json`'s shape plus what the replay was."""
        return {"recommendations": list(self.statuses), **self.report()}

    def close(self) -> None:
        """Remove the temporary file of the statuses."""
        self.statuses.close()


def replay_store(
    store: Store,
    *,
    as_of_recorded: datetime | None = None,
    as_of_valid: date | None = None,
    check: bool = False,
    parallel: bool | None = None,
) -> ReplayResult:
    """Rebuild every recommendation from the events alone (optionally as of a time); compare with the tables.

    The whole log is replayed and its chain checked in any case: a replay of a log that
    is broken, or holds an illegal transition, is refused rather than shown. One read
    snapshot, memory flat in the size of the log (:mod:`beslut.audit.streams`). *parallel*: as for
    :func:`verify_store` (a replay as of a time, or with ``check``, runs in one process).

    Raises:
        InvalidInput: ``check`` with an as-of time (the tables hold only the present).
        AuditVerificationFailed: the log is broken (names the first bad seq).
    """
    if check and (as_of_recorded is not None or as_of_valid is not None):
        raise InvalidInput("--check compares the live tables, which hold the present: leave out --as-of")
    with store.reader() as reader:
        if parallel is not False and not check and as_of_recorded is None and as_of_valid is None:
            last_seq = reader.audit_head_seq()
            if parallel or worthwhile(store, last_seq):
                fast = replay_parallel(store, reader, last_seq=last_seq)
                if fast is not None:
                    return ReplayResult(statuses=fast.statuses, events=fast.events, log_events=fast.events)
        streamed = replay_streams(reader, as_of_recorded=as_of_recorded, as_of_valid=as_of_valid, check=check)
    return ReplayResult(
        statuses=streamed.statuses,
        events=streamed.events,
        log_events=streamed.log_events,
        as_of_recorded=as_of_recorded,
        as_of_valid=as_of_valid,
        held_back=streamed.held_back,
        differences=streamed.differences,
    )


# ---------------------------------------------------------------- export


def export_case(
    store: Store,
    key: str,
    out: Path,
    *,
    checkpoint: cp.Checkpoint | None = None,
    source: str = "",
    now: datetime,
) -> Exported:
    """Verify the whole log (against the checkpoint if given), then write the archive package of *key*.

    The verification, the events and the inclusion proofs come from one read snapshot.

    Raises:
        AuditVerificationFailed: the log does not verify; nothing is written.
        NotFound: no such recommendation.
        InvalidInput: *out* is not a new or empty directory.
    """
    with store.reader() as reader:
        collected: list[AuditRecord] = []

        def rows() -> Iterator[Row]:
            for row in read_log(reader):
                if row.problem is None and row.record.stream == key:
                    collected.append(row.record)
                yield row

        loader = functools.partial(records_before, reader)
        report = Verifier(checkpoint=checkpoint, checkpoint_source=source, loader=loader).run(rows())
        if not report.ok:
            raise AuditVerificationFailed(
                f"refusing to export: audit log broken at seq {report.first_bad_seq}: {report.problem}"
            )
        if not collected:
            if reader.load_case(key) is None:
                raise NotFound(f"no recommendation {key!r}")
            raise AuditVerificationFailed(f"recommendation {key!r} has no events in the audit log")
        inclusions: list[Inclusion] = []
        if checkpoint is not None:
            covered = [r.seq for r in collected if r.seq <= checkpoint.tree_size]
            if covered:
                inclusions = prove_inclusion(_records(read_log(reader)), checkpoint, covered)
    return write_package(out, records=collected, checkpoint=checkpoint, inclusions=inclusions, now=now)
