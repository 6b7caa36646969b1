"""`audit replay` in flat memory.

**Without an as-of time** (the common case, and what the benchmark times): ONE pass in seq order
(:func:`_single_pass`): each row is read and decoded once, the chain check hands its parsed payload
to the replayer, at most :data:`SPILL_KEEP` cases stay in memory and the others wait pickled on a
temporary file (read back when their stream goes on, and at the end for the output, in ``status``
order). That halves the reads and parses of the two passes below and drops their query per stream.

**With an as-of time**, two passes: the chain in one pass, then the recommendations one stream at a
time, as follows (an as-of replay holds per-stream state that the one pass would have to keep for
every stream at once).

Why two passes: a replay in seq order must keep every recommendation's case until
the log ends (any of them may get another event), about 15 KB each, so memory grew
with the number of recommendations. Replay needs no state shared between streams
(:func:`beslut.states.case.apply` reads one case only; the cross-stream command
rules are `audit verify`'s), so:

1. **chain pass**, in seq order: every row read, the hash chain, gap-free seq and
   stream_seq (:class:`~beslut.states.audit_chain.ChainChecker`), and per stream only the day
   of its first event, which orders the output as ``status`` does (by the day proposed,
   then key);
2. **stream pass**, in that order: each stream's events (``WHERE stream = …``, the
   ``(stream, stream_seq)`` index) folded through the same :class:`~beslut.states.replay.Replayer`
   as before (and the as-of replayers), its status document written to a temporary
   file, and the case dropped. ``--check`` compares it with the live row there and then.

Both passes run in one read snapshot, so they see the same rows. Where the log is
broken, the refusal names the same first bad seq as the single pass did: the chain
pass stops at the first row that breaks the chain (seq N), the stream pass checks
transitions only below N, and the smallest failing seq of all is reported. Nothing is
printed before both passes have finished, so a broken log is never half shown.

Memory: the per-stream index (a key, a date and a stream head: ~200 bytes per
recommendation, against ~15 KB for a case) and one stream's cases at a time; the status
documents wait on disk (:class:`Spool`). What still grows: ``--check`` lists the live
recommendations once to find any the log lacks, and the human-readable table is built
whole by its renderer.
"""

from __future__ import annotations

import pickle
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

import orjson

from beslut.errors import AuditVerificationFailed
from beslut.persistence import Reader
from beslut.states.audit_chain import ChainChecker
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case
from beslut.states.replay import AsOfRecorded, AsOfValid, Difference, HeldBack, Replayer, diff_cases
from beslut.states.views import case_status
from beslut.workflow.audit_log import read_log


class Spool:
    """Finished cases on a temporary file, in the order added, read back as status documents.

    The cases are pickled as they are (our own file, written and read by this process), and turned into
    `status --json` documents only when read: that work (the cost allocation above all) is the printing's,
    as it was when the replay kept every case in memory.
    """

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._count = 0
        # A caller that only wants the differences may never call close(): the file goes with the spool, quietly.
        weakref.finalize(self, self._file.close)

    def add(self, case: Case) -> None:
        """Append one case."""
        pickle.dump(case, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self._count):
            case: Case = pickle.load(self._file)  # noqa: S301 - a temporary file only this process wrote
            yield case_status(case)
        self._file.seek(0, 2)

    def close(self) -> None:
        """Remove the file."""
        self._file.close()


@dataclass
class Streamed:
    """What the two passes found: the status documents (as of a time, if asked) and the rest of the report."""

    statuses: Spool
    events: int = 0
    log_events: int = 0
    held_back: list[HeldBack] = field(default_factory=list)
    differences: list[Difference] | None = None


def replay_streams(
    reader: Reader, *, as_of_recorded: datetime | None, as_of_valid: date | None, check: bool
) -> Streamed:
    """Replay the whole log in *reader*'s snapshot, stream by stream (see the module docstring).

    Raises:
        AuditVerificationFailed: the log is broken (names the first bad seq); nothing is returned.
    """
    if as_of_recorded is None and as_of_valid is None:
        return _single_pass(reader, check=check)
    first_days, limit, failure = _chain_pass(reader)
    out = Streamed(statuses=Spool(), differences=[] if check else None)
    calendar = BusinessCalendar()  # one for all streams: it caches the holidays of each year it is asked about
    try:
        for key in sorted(first_days, key=lambda k: (first_days[k], k)):
            problem = _stream_pass(
                reader, key, out, calendar=calendar, limit=limit, instant=as_of_recorded, day=as_of_valid
            )
            if problem is not None and (failure is None or problem[0] < failure[0]):
                failure = problem
        if failure is None and out.differences is not None:
            live_keys = {c.key for c in reader.list_cases()}
            out.differences.extend(Difference(k, None, "exists", True, False) for k in live_keys - set(first_days))
            out.differences.sort(key=lambda d: d.key)  # stable: each key's differences stay in their order
    except BaseException:
        out.statuses.close()
        raise
    if failure is not None:
        out.statuses.close()
        raise AuditVerificationFailed(f"audit log broken at seq {failure[0]}: {failure[1]}")
    out.held_back.sort(key=lambda h: h.seq)
    return out


SPILL_KEEP = 512
"""Cases the one-pass replay keeps in memory; the rest wait pickled on a temporary file."""


class SpillingReplayer(Replayer):
    """A :class:`Replayer` that keeps at most *keep* cases in memory and the rest on a temporary file.

    A dropped case goes to the file twice over: its ``status --json`` document (JSON) and the case itself
    (pickled). The case is read back only when its stream goes on (rare: a stream is dropped when it has
    been quiet longest) or for ``--check``; the output reads the document alone. Why both: the case alone
    cost a pickle written, read back and turned into its document at the end (about 250 us per
    recommendation, a fifth of a replay's time, docs/performance.md); the document alone would leave a
    stream that goes on nothing to go on from but its rows, folded again.
    """

    def __init__(self, calendar: BusinessCalendar, *, keep: int = 512) -> None:
        super().__init__(calendar, keep=keep)
        self._bounded = True
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        weakref.finalize(self, self._file.close)

    def _drop(self, key: str, case: Case) -> None:
        # At the offset kept (the base class keeps a version here): the document's length, the document, the case.
        file = self._file
        file.seek(0, 2)
        self._dropped[key] = file.tell()
        document = orjson.dumps(case_status(case))
        file.write(len(document).to_bytes(_LENGTH, "big"))
        file.write(document)
        pickle.dump(case, file, protocol=pickle.HIGHEST_PROTOCOL)

    def _restore(self, key: str, before_seq: int) -> Case:
        return self._read_case(self._dropped.pop(key))

    def _read_document(self, offset: int) -> bytes:
        file = self._file
        file.seek(offset)
        return file.read(int.from_bytes(file.read(_LENGTH), "big"))

    def _read_case(self, offset: int) -> Case:
        file = self._file
        file.seek(offset)
        file.seek(int.from_bytes(file.read(_LENGTH), "big"), 1)  # past the document
        case: Case = pickle.load(file)  # noqa: S301 - a temporary file only this process wrote
        return case

    def final_known(self, key: str) -> bool:
        """True when stream *key* has a case (in memory or on the file)."""
        return key in self.cases or key in self._dropped

    def final(self, key: str) -> Case | None:
        """Stream *key*'s case after the whole log (from memory or the file), None if it has none."""
        case = self.cases.get(key)
        if case is None and key in self._dropped:
            case = self._read_case(self._dropped[key])
        return case

    def final_document(self, key: str) -> bytes | None:
        """Stream *key*'s status document after the whole log, as JSON (None if it has no case)."""
        case = self.cases.get(key)
        if case is not None:
            return orjson.dumps(case_status(case))
        if key in self._dropped:
            return self._read_document(self._dropped[key])
        return None

    def final_status(self, key: str) -> dict[str, Any] | None:
        """Stream *key*'s status document after the whole log (None if it has no case)."""
        case = self.cases.get(key)
        if case is not None:
            return case_status(case)
        if key in self._dropped:
            status: dict[str, Any] = orjson.loads(self._read_document(self._dropped[key]))
            return status
        return None

    def close(self) -> None:
        """Remove the file."""
        self._file.close()


_LENGTH = 4  # bytes of a spilled document's length (a status document is well under 4 GiB)


def _single_pass(reader: Reader, *, check: bool) -> Streamed:
    """The whole log in seq order, read once: chain, transitions and cases together (no as-of time).

    Each row is decoded and its payload parsed once (the chain check hands the parsed payload to the
    replayer), and there is no query per stream: what the two passes cost twice (docs/performance.md).
    The first failing seq, chain or transition, is the one reported, as with the two passes. The status
    documents are read from the replayer itself (memory or its spill file) when printed, so a spilled
    case is pickled once, not copied into a second spool.
    """
    replayer = SpillingReplayer(BusinessCalendar(), keep=SPILL_KEEP)
    try:
        first_days, failure = _fold_log(reader, replayer)
    except BaseException:
        replayer.close()
        raise
    if failure is not None:
        replayer.close()
        raise AuditVerificationFailed(f"audit log broken at seq {failure[0]}: {failure[1]}")
    try:
        order = sorted(first_days, key=lambda k: (first_days[k], k))
        out = Streamed(statuses=_ReplayedStatuses(replayer, order), differences=[] if check else None)
        out.events = out.log_events = replayer.events
        if out.differences is not None:
            _compare(reader, replayer, order, out.differences)
    except BaseException:
        replayer.close()
        raise
    return out


def _fold_log(reader: Reader, replayer: SpillingReplayer) -> tuple[dict[str, date], tuple[int, str] | None]:
    """Check and fold every row in seq order; each stream's first day, and the first failure if any."""
    chain = ChainChecker()
    first_days: dict[str, date] = {}
    for row in read_log(reader):
        if row.problem is not None:
            return first_days, (chain.expected_seq, row.problem)
        record = row.record
        problem, payload = chain.check(record)
        if problem is not None:
            return first_days, (chain.expected_seq, problem)
        problem = replayer.feed(record, payload)
        if problem is not None:
            return first_days, (record.seq, problem)
        chain.accept(record)
        if record.stream not in first_days:
            first_days[record.stream] = first_day(record.valid_on)
    return first_days, None


def _compare(reader: Reader, replayer: SpillingReplayer, order: list[str], differences: list[Difference]) -> None:
    """--check: each replayed case against its live row, then any live recommendation the log lacks."""
    for key in order:
        case = replayer.final(key)
        live = reader.load_case(key)
        replayed = {key: case} if case is not None else {}
        differences.extend(diff_cases([live] if live is not None else [], replayed))
    live_keys = {c.key for c in reader.list_cases()}
    differences.extend(Difference(k, None, "exists", True, False) for k in live_keys - set(order))
    differences.sort(key=lambda d: d.key)  # stable: each key's differences stay in their order


class _ReplayedStatuses(Spool):
    """The one pass's status documents, in `status` order, read from the replayer (memory or spill file).

    The same interface as :class:`Spool` (length, iterate as often as asked, close), without a second copy.
    """

    def __init__(self, replayer: SpillingReplayer, order: list[str]) -> None:  # no Spool file of its own
        self._replayer = replayer
        self._order = [key for key in order if replayer.final_known(key)]

    def add(self, case: Case) -> None:
        raise TypeError("the replayed statuses are read from the replay; nothing is added")

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for key in self._order:
            status = self._replayer.final_status(key)
            assert status is not None  # final_known said so
            yield status

    def close(self) -> None:
        """Remove the replayer's spill file."""
        self._replayer.close()


def _chain_pass(reader: Reader) -> tuple[dict[str, date], int, tuple[int, str] | None]:
    """Check the chain; return each stream's first day, the first seq not proven by it, and what broke it."""
    chain = ChainChecker()
    first_days: dict[str, date] = {}
    failure: tuple[int, str] | None = None
    for row in read_log(reader):
        if row.problem is not None:
            failure = (chain.expected_seq, row.problem)
            break
        record = row.record
        problem, _ = chain.check(record)
        if problem is not None:
            failure = (chain.expected_seq, problem)
            break
        chain.accept(record)
        if record.stream not in first_days:
            first_days[record.stream] = first_day(record.valid_on)
    return first_days, chain.expected_seq, failure


def _stream_pass(
    reader: Reader,
    key: str,
    out: Streamed,
    *,
    calendar: BusinessCalendar,
    limit: int,
    instant: datetime | None,
    day: date | None,
) -> tuple[int, str] | None:
    """Fold one stream's events below seq *limit*; add its status to *out*; return its first failure, if any."""
    full = Replayer(calendar)
    recorded = AsOfRecorded(instant, Replayer(calendar, whole_log=False)) if instant is not None else None
    valid = AsOfValid(day, Replayer(calendar, whole_log=False)) if day is not None else None
    for row in read_log(reader, stream=key):
        record = row.record
        if record.seq >= limit:  # past the chain's first break: not proven, not replayed
            break
        problem = row.problem or full.feed(record)
        if problem is not None:
            return record.seq, problem
        if recorded is not None:
            recorded.feed(record)
        if valid is not None:
            valid.feed(record)
    target = recorded.replayer if recorded is not None else valid.replayer if valid is not None else full
    case = target.cases.get(key)
    if case is not None:
        out.statuses.add(case)
    out.events += target.events
    out.log_events += full.events
    if valid is not None:
        out.held_back.extend(valid.held_back)
    if out.differences is not None:
        live = reader.load_case(key)
        out.differences.extend(diff_cases([live] if live is not None else [], full.cases))
    return None


def first_day(text: str) -> date:
    """A stream's first legal date, which orders the output (date.min when it is not a date: the checks name that)."""
    try:
        return date.fromisoformat(text)
    except ValueError:  # the stream pass names what is wrong with it
        return date.min
