"""`audit verify` and `audit replay` on two cores: this process and one helper split the streams between them.

Why: a verification is Python work per event (decode, hash, parse, replay through the machines, re-run
the command rules), one core's worth, and auditors' machines have more than one. The streams are
independent for everything but the checks a revision makes of the recommendation it supersedes, so:

- **each stream belongs to one part** (:class:`Partition`): that part checks its rows' content (payload
  canonical, hash of the content, ``stream_seq``), folds them through the machines and, for `verify`, the
  command rules. A revision belongs where the recommendation it supersedes went, so the supersession
  checks find both cases in one part;
- **`verify`**: every row is read by both parts (each in its own read transaction, each to the same last
  seq), and each checks every row's seq (gap-free from 1) and hash link (``prev_hash`` is the previous
  row's ``hash``); the Merkle tree and the checkpoint are this process's (it reads every ``hash`` anyway);
- **`replay`**: each part reads only its own streams' rows, which the database picks (:func:`split_streams`,
  :func:`scan_own`), and this process has the database count and compare seq and links of every row
  (:func:`chain_whole`).

Either way each part keeps a running sha256 of the ``hash`` column of its own rows, and this process one of
the rows it gave the helper: the two must be equal, and the parts' rows must add up to the last seq. Then
they read the same rows, even though each read them in its own snapshot (each part checked its own rows'
content, seq included, against their hashes, and two different rows with one hash would need a sha256
collision), and split them alike. Rows appended meanwhile are past the last seq and not read.

**Only a clean log takes this path to the end.** Anything else — a row that cannot be read, a broken
link, a bad hash, an illegal transition, a checkpoint that does not match, a helper that fails, parts
that disagree — makes :func:`verify_parallel` / :func:`replay_parallel` return None, and the caller runs
the one-process verification, which names the first bad seq in its own words. So every refusal is worded
exactly as before, and the parallel path need only be right about "ok" (tests hold its reports and
replays equal to the one-process ones).
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import weakref
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import orjson

from beslut.audit.checkpoint import Checkpoint
from beslut.audit.streams import SPILL_KEEP, SpillingReplayer, Spool, first_day
from beslut.audit.verify import Report, Verifier
from beslut.persistence import Reader, Store, audit_chain_summary, audit_hashes_digest, audit_rows, open_store
from beslut.states.audit_chain import GENESIS_HASH, ChainChecker, whole_chain_summary
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case
from beslut.states.replay import Replayer
from beslut.workflow.audit_log import records_before, to_record

PARTS = 2
MIN_EVENTS = 50_000
"""Below this many events one process is about as quick: the helper takes half a second to start."""

# The standard library's logger: on stderr when nothing is configured (never into `--json` on stdout), as
# JSON lines in the scheduler daemon (beslut.logs).
log = logging.getLogger(__name__)

_PROPOSED = "recommendation.proposed"
_PROPOSAL_KINDS = (_PROPOSED.encode(), _PROPOSED)  # as SQLite (bytes) and PostgreSQL (str) hand it over


def worthwhile(store: Store, events: int) -> bool:
    """True when a log of *events* is worth two processes: big enough, two cores, a store a helper can open."""
    return events >= MIN_EVENTS and _cores() >= PARTS and _location(store) is not None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _location(store: Store) -> str | None:
    """What the helper passes to :func:`open_store`: the SQLite file's absolute path or the PostgreSQL URL."""
    path = getattr(store, "path", None)
    if isinstance(path, Path):
        return str(path.resolve()) if path.is_file() else None
    if store.url.startswith("postgresql"):
        return store.url
    return None


def _as_bytes(value: object) -> bytes:
    """A text column as bytes (SQLite hands them over as bytes, PostgreSQL as str).

    Raises:
        TypeError: neither (a tampered row; the one-process path names it).
    """
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8", "surrogatepass")
    raise TypeError(f"not text: {type(value).__name__}")


_PER_MILLE = 1000
HALF = 500
REPLAY_SHARE = 470
"""This process's share (per mille) of a replay's streams: besides its own rows it has the database check the
whole chain and digest the helper's hashes (~1.4 s at 1M events) and merges the two parts' documents, while
the helper only starts half a second late; at 490 the helper still finished first (docs/performance.md)."""


class Partition:
    """Which part each stream belongs to: by the CRC-32 of its name, except a revision's.

    Part 0 takes the streams whose CRC-32 modulo 1000 is below *share* (per mille), part 1 the others: not
    always half, since the parts need not cost alike (a part that reads only its own rows is quicker per
    row of the log). A revision belongs with the recommendation it supersedes (and so, transitively, the
    whole line of revisions), since verifying a supersession reads both cases. Both parts see every
    proposal, in the same order, so they agree; only the revisions are remembered (memory stays flat).
    """

    def __init__(self, share: int = HALF) -> None:
        if not 0 < share < _PER_MILLE:  # each of the two parts has some streams
            raise ValueError(f"a share of {share} per mille for the first of two parts")
        self.share = share
        self.revisions: dict[bytes, int] = {}  # a revision's stream -> its part (the others: by their CRC-32)

    def part(self, stream: bytes) -> int:
        """The part of *stream* (:func:`scan` inlines this)."""
        found = self.revisions.get(stream)
        if found is not None:
            return found
        return 0 if zlib.crc32(stream) % _PER_MILLE < self.share else 1

    def note_proposal(self, stream: bytes, payload: object) -> None:
        """Read a proposal's spec: a revision joins the part of what it supersedes (an unreadable one: its own)."""
        try:
            supersedes = orjson.loads(payload)["spec"].get("supersedes")  # type: ignore[arg-type]
        except (ValueError, TypeError, KeyError, AttributeError):  # not JSON (or not text), or no spec in it
            return
        if isinstance(supersedes, str):
            self.revisions[stream] = self.part(supersedes.encode("utf-8", "surrogatepass"))


_T = TypeVar("_T")

OwnedRow = Callable[[tuple[Any, ...]], bool]
"""A part's work on one of its own rows: True when the row is good."""


@dataclass(frozen=True)
class Scan:
    """What one part read: how many rows, the last hash, and per part a running digest of its rows' hashes.

    The helper's digest of its own rows must equal this process's digest of the rows it gave the helper:
    then the two read the same rows, though in two snapshots (each row's hash covers all of it).
    """

    rows: int
    head_hash: str
    shares: tuple[str, ...]


def scan(  # noqa: PLR0912 - one loop: it runs once per row of the log, in both parts
    reader: Reader, *, part: int, last_seq: int, owned: OwnedRow, every: OwnedRow | None = None, share: int = HALF
) -> Scan | None:
    """Read rows 1..*last_seq*: check seq and links of all, hand this part's rows to *owned*; None at any fault.

    The seq and link of every row are the one chain check's (:meth:`ChainChecker.link`); the content of this
    part's own rows too, in *owned* (:class:`_Folder`). *every* (this process only) sees every row after its
    link is checked: the Merkle tree.
    """
    partition = Partition(share)
    revisions, crc32 = partition.revisions, zlib.crc32  # the loop runs a million times
    shares = [hashlib.sha256() for _ in range(PARTS)]
    share_updates = [d.update for d in shares]
    chain = ChainChecker()
    link, advance = chain.link, chain.advance
    rows = audit_rows(reader)
    try:
        for values in rows:
            seq, stream, _, _, _, kind, payload, prev_hash, this_hash = values
            if type(seq) is not int:
                return None
            if type(stream) is not bytes or type(prev_hash) is not bytes or type(this_hash) is not bytes:
                try:  # PostgreSQL's text, or something that is not text at all
                    stream, prev_hash, this_hash = _as_bytes(stream), _as_bytes(prev_hash), _as_bytes(this_hash)
                except TypeError:
                    return None
            try:
                prev_text, this_text = prev_hash.decode("ascii"), this_hash.decode("ascii")
            except UnicodeDecodeError:  # no hash: the one-process path names the row
                return None
            if link(seq, prev_text) is not None:
                return None
            if seq > last_seq:
                break
            advance(this_text)
            if kind in _PROPOSAL_KINDS:
                partition.note_proposal(stream, payload)
            if every is not None and not every(values):
                return None
            owner = revisions.get(stream)
            if owner is None:
                owner = 0 if crc32(stream) % _PER_MILLE < share else 1
            share_updates[owner](this_hash)
            if owner == part and not owned(values):
                return None
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if chain.count != last_seq:
        return None
    return Scan(last_seq, chain.prev_hash, tuple(d.hexdigest() for d in shares))


@dataclass(frozen=True)
class OwnScan:
    """What a part that read only its own rows read: how many, and the digest of their ``hash`` column."""

    rows: int
    share: str


def split_streams(reader: Reader, *, last_seq: int, share: int) -> tuple[list[str], list[str]] | None:
    """Each part's streams (their names, as stored), from the proposals up to *last_seq* in seq order.

    The split of :class:`Partition` (a revision with what it supersedes); None when a proposal's stream is
    not text (the one-process path names that row).
    """
    partition = Partition(share)
    parts: dict[str, int] = {}
    for values in audit_rows(reader, up_to_seq=last_seq, kind=_PROPOSED):
        stream, payload = values[1], values[6]
        try:
            raw = _as_bytes(stream)
            name = raw.decode("utf-8")
        except (TypeError, UnicodeDecodeError):
            return None
        partition.note_proposal(raw, payload)
        parts[name] = partition.part(raw)
    return [name for name, part in parts.items() if part == 0], [name for name, part in parts.items() if part == 1]


def scan_own(reader: Reader, *, last_seq: int, streams: list[str], owned: OwnedRow) -> OwnScan | None:
    """Read the rows of *streams* up to *last_seq* (the database leaves the others out); None at any fault.

    Nothing here checks seq gaps or links: :func:`chain_whole` checks those of every row in the database,
    and the digest of each part's hashes (each checked against its row's content by *owned*, seq included)
    must equal the one this process computes for that part (:func:`share_digest`), so both read the same rows.
    """
    digest = hashlib.sha256()
    count = 0
    previous = 0
    rows = audit_rows(reader, up_to_seq=last_seq, scanned_streams=streams)
    try:
        for values in rows:
            seq = values[0]
            if type(seq) is not int or seq <= previous:
                return None
            previous = seq
            if not owned(values):
                return None
            this_hash = values[8]
            digest.update(this_hash if type(this_hash) is bytes else _as_bytes(this_hash))
            count += 1
    except TypeError:  # a hash that is not text: the one-process path names it
        return None
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return OwnScan(count, digest.hexdigest())


def share_digest(reader: Reader, *, last_seq: int, streams: list[str]) -> OwnScan:
    """How many rows *streams* have up to *last_seq*, and the digest of their hashes (what :func:`scan_own` gives)."""
    count, digest = audit_hashes_digest(reader, up_to_seq=last_seq, scanned_streams=streams)
    return OwnScan(count, digest)


def chain_whole(reader: Reader, *, last_seq: int) -> bool:
    """True when the rows up to *last_seq* are seq 1..*last_seq*, each once, every one linked to the one before."""
    summary = audit_chain_summary(reader, up_to_seq=last_seq)
    try:
        genesis = _as_bytes(summary.first_prev_hash) == GENESIS_HASH.encode()
    except TypeError:
        return False
    return whole_chain_summary(
        rows=summary.rows,
        distinct=summary.distinct,
        integers=summary.integers,
        first=summary.first,
        last=summary.last,
        linked=summary.linked,
        genesis=genesis,
        last_seq=last_seq,
    )


class _Folder:
    """A part's own rows: content checked (:meth:`ChainChecker.check_content`), then fed to a replayer."""

    def __init__(self, replayer: Replayer) -> None:
        self.chain = ChainChecker()
        self.replayer = replayer
        self.first_days: dict[str, date] = {}

    def __call__(self, values: tuple[Any, ...]) -> bool:
        record = to_record(values)
        if record is None:  # a row that is not as it should be: the one-process path says what is wrong
            return False
        problem, payload = self.chain.check_content(record)
        if problem is not None or self.replayer.feed(record, payload) is not None:
            return False
        self.chain.accept(record)
        if record.stream not in self.first_days:
            self.first_days[record.stream] = first_day(record.valid_on)
        return True


# ---------------------------------------------------------------- the helper process


@dataclass(frozen=True)
class _Task:
    what: str  # "verify" or "replay"
    location: str  # on a file, not the command line, where `ps` would show a PostgreSQL password
    last_seq: int
    out_dir: str  # the helper's answer (and, for a replay, its cases) go here
    share: int = HALF  # part 0's share of the streams (per mille)


_CODE_ROOT = Path(__file__).resolve().parents[2]
"""The directory holding the ``beslut`` package this process runs (the helper must run the same code)."""

_ANSWER_KEYS = {"share": str, "rows": int, "streams": int, "events": int}
"""What a helper answers (a replay's also ``statuses``), and of what type."""

_TASK = "task.pickle"
_ANSWER = "answer.pickle"
_MINE = "statuses-0.jsonl"
_THEIRS = "statuses-1.jsonl"


def _helper_main() -> int:
    """The helper process (``python -m beslut.audit.parallel DIR``): its task and its answer in DIR.

    A plain child process, not :mod:`multiprocessing`, which would import the embedding program's main module
    again in the child (a program without an ``if __name__ == "__main__"`` guard would start over).
    """
    with (Path(sys.argv[1]) / _TASK).open("rb") as file:
        task: _Task = pickle.load(file)  # noqa: S301 - written by the process that started this one
    store = open_store(task.location, read_only=True)
    try:
        with store.reader() as reader:
            answer = _helper_part(reader, task)
    finally:
        store.close()
    with (Path(task.out_dir) / _ANSWER).open("wb") as out:
        pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


def _helper_part(reader: Reader, task: _Task) -> dict[str, Any] | None:
    """The helper's part (part 1): its answer, with the digest of its rows' hashes (``share``) to compare."""
    if task.what == "verify":
        replayer = Replayer(check_rules=True, loader=lambda key, seq: records_before(reader, key, seq))
        found = scan(reader, part=1, last_seq=task.last_seq, owned=_Folder(replayer), share=task.share)
        if found is None:
            return None
        events = replayer.events
        return {"share": found.shares[1], "rows": events, "streams": replayer.streams, "events": events}
    spilling = SpillingReplayer(BusinessCalendar(), keep=SPILL_KEEP)
    try:
        folder = _Folder(spilling)
        split = split_streams(reader, last_seq=task.last_seq, share=task.share)
        own = scan_own(reader, last_seq=task.last_seq, streams=split[1], owned=folder) if split else None
        if own is None:
            return None
        count = _write_statuses(Path(task.out_dir) / _THEIRS, spilling, folder.first_days)
        return {
            "share": own.share,
            "rows": own.rows,
            "streams": spilling.streams,
            "events": spilling.events,
            "statuses": count,
        }
    finally:
        spilling.close()


class _Helper:
    """The helper process, started at once to read while this process does; its files in a temporary directory."""

    def __init__(self, what: str, location: str, last_seq: int, *, share: int = HALF) -> None:
        self._what = what
        self.directory = Path(tempfile.mkdtemp(prefix="beslut-audit-"))
        task = _Task(what, location, last_seq, str(self.directory), share)
        with (self.directory / _TASK).open("wb") as out:  # mkdtemp's directory: this user's alone
            pickle.dump(task, out, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "beslut.audit.parallel", str(self.directory)],
                cwd=_CODE_ROOT,  # "-m" looks here first: this very beslut, not one in the caller's directory
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as error:
            log.warning("audit helper not started (%s): going on in one process", error)
            self._process = None

    def beside(self, work: Callable[[], _T]) -> _T | None:
        """Run this process's part while the helper runs its own; on an error in it, stop the helper.

        An error is logged and gives None (the one-process path meets it again and says it its way);
        an interrupt stops the helper and goes on up.
        """
        try:
            return work()
        except Exception as error:
            self.stop()
            log.warning("audit %s in two processes stopped (%s): going on in one process", self._what, error)
            return None
        except BaseException:
            self.stop()
            raise

    def answer(self) -> dict[str, Any] | None:
        """Wait for the helper's answer (None when it failed or found a fault)."""
        process = self._process
        if process is None:
            return None
        try:
            _, errors = process.communicate()
        except BaseException:  # interrupted while waiting: the helper goes too, and its files
            self.stop()
            raise
        self._process = None
        if process.returncode != 0:
            last = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            log.warning("audit helper failed (exit %s: %s): going on in one process", process.returncode, last[0])
            return None
        try:
            with (self.directory / _ANSWER).open("rb") as file:
                answer: object = pickle.load(file)  # noqa: S301 - our own helper wrote it
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None
        if answer is None:  # the helper found a fault: the one-process path will name it
            return None
        if not _well_formed(answer, self._what):
            log.warning("audit helper answered %r: going on in one process", answer)
            return None
        assert isinstance(answer, dict)  # _well_formed said so
        return answer

    def stop(self) -> None:
        """End the helper at once (this process gave up) and remove its files."""
        if self._process is not None:
            self._process.kill()
            self._process.communicate()
            self._process = None
        self.remove()

    def remove(self) -> None:
        """Remove the helper's files."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _well_formed(answer: object, what: str) -> bool:
    """True when *answer* is what this code's helper writes (another version of beslut would not be)."""
    expected = dict(_ANSWER_KEYS, statuses=int) if what == "replay" else _ANSWER_KEYS
    return (
        isinstance(answer, dict)
        and answer.keys() == expected.keys()
        and all(type(answer[key]) is kind for key, kind in expected.items())
    )


# ---------------------------------------------------------------- verify


def verify_parallel(
    store: Store, reader: Reader, *, checkpoint: Checkpoint | None, source: str, last_seq: int
) -> Report | None:
    """`audit verify` of a clean log on two processes, the report the one-process verifier gives; None otherwise."""
    location = _location(store)
    if location is None or last_seq == 0:
        return None
    verifier = Verifier(
        checkpoint=checkpoint, checkpoint_source=source, loader=lambda key, seq: records_before(reader, key, seq)
    )
    helper = _Helper("verify", location, last_seq)
    tree = _TreeFeed(verifier, checkpoint)
    folder = _Folder(verifier.replayer)
    mine = helper.beside(lambda: scan(reader, part=0, last_seq=last_seq, owned=folder, every=tree))
    theirs = helper.answer()
    helper.remove()
    if mine is None or theirs is None or theirs["share"] != mine.shares[1] or not tree.matches_checkpoint():
        return None
    if verifier.replayer.events + theirs["events"] != last_seq:
        return None
    verifier.head_hash = mine.head_hash
    return verifier.report(last_seq, streams=verifier.replayer.streams + theirs["streams"])


class _TreeFeed:
    """Every row's hash into the verifier's Merkle tree; the first hash and the hash at the checkpoint's size."""

    def __init__(self, verifier: Verifier, checkpoint: Checkpoint | None) -> None:
        self.verifier = verifier
        self.checkpoint = checkpoint
        self.signed_head: str | None = None

    def __call__(self, values: tuple[Any, ...]) -> bool:
        try:
            text = _as_bytes(values[8]).decode("ascii")
            leaf = bytes.fromhex(text)
        except (TypeError, ValueError):
            return False
        tree = self.verifier.tree
        tree.append_leaf(leaf)
        if tree.size == 1:
            self.verifier.log_id = text
        if self.checkpoint is not None and tree.size == self.checkpoint.tree_size:
            self.signed_head = text
        return True

    def matches_checkpoint(self) -> bool:
        """True without a checkpoint, or when the log extends it (else the one-process path says how it does not)."""
        cp = self.checkpoint
        if cp is None:
            return True
        verifier = self.verifier
        if verifier.tree.size < cp.tree_size or self.signed_head != cp.head_hash:
            return False
        # the head as it was at the checkpoint's size, not the log's head now
        return verifier.against_checkpoint(cp, head_hash=self.signed_head) is None


# ---------------------------------------------------------------- replay


@dataclass
class ParallelReplay:
    """A replay's cases from both parts, in `status` order, as status documents (the :class:`Spool` interface)."""

    events: int
    statuses: Spool


def replay_parallel(store: Store, reader: Reader, *, last_seq: int) -> ParallelReplay | None:
    """`audit replay` (no as-of, no --check) of a clean log on two processes; None otherwise.

    Unlike `verify` (which reads every row in both parts: its Merkle tree wants every hash), each part reads
    only its own streams' rows, picked by the database (:func:`split_streams`, :func:`scan_own`); this
    process has the database check seq and links of every row (:func:`chain_whole`) and digests the
    helper's rows' hashes to compare (:func:`share_digest`). Each part also writes its own status documents
    (the cost allocation above all), so that work is split too; the output reads the two files merged in
    `status` order.
    """
    location = _location(store)
    if location is None or last_seq == 0:
        return None
    helper = _Helper("replay", location, last_seq, share=REPLAY_SHARE)
    spilling = SpillingReplayer(BusinessCalendar(), keep=SPILL_KEEP)
    folder = _Folder(spilling)

    def my_part() -> tuple[OwnScan, OwnScan, int] | None:
        split = split_streams(reader, last_seq=last_seq, share=REPLAY_SHARE)
        if split is None or not chain_whole(reader, last_seq=last_seq):
            return None
        own = scan_own(reader, last_seq=last_seq, streams=split[0], owned=folder)
        theirs = share_digest(reader, last_seq=last_seq, streams=split[1])
        if own is None or own.rows + theirs.rows != last_seq:
            return None
        return own, theirs, _write_statuses(helper.directory / _MINE, spilling, folder.first_days)

    try:
        mine = helper.beside(my_part)
    finally:
        spilling.close()
    if mine is None:
        helper.stop()
        return None
    answer = helper.answer()
    _, expected, my_count = mine
    if (
        answer is None
        or (answer["rows"], answer["share"]) != (expected.rows, expected.share)
        or spilling.events + answer["events"] != last_seq
    ):
        helper.remove()
        return None
    return ParallelReplay(events=last_seq, statuses=_MergedStatuses(helper.directory, my_count, answer["statuses"]))


def _write_statuses(path: Path, replayer: SpillingReplayer, first_days: dict[str, date]) -> int:
    """Write ``[day proposed, key, status document]`` of every stream with a case, in `status` order, as JSON lines.

    The documents are the replayer's JSON as it is (a dropped case's was written when it was dropped), not
    parsed and written again. Returns how many.
    """
    count = 0
    with path.open("wb") as out:
        for key in sorted(first_days, key=lambda k: (first_days[k], k)):
            document = replayer.final_document(key)
            if document is not None:
                out.write(orjson.dumps([first_days[key].isoformat(), key, orjson.Fragment(document)]) + b"\n")
                count += 1
    return count


class _MergedStatuses(Spool):
    """The status documents of both parts (two files), merged in `status` order (by day proposed, then key)."""

    def __init__(self, directory: Path, my_count: int, their_count: int) -> None:  # no Spool file of its own
        self._directory = directory
        self._counts = {_MINE: my_count, _THEIRS: their_count}
        weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)

    def __len__(self) -> int:
        return sum(self._counts.values())

    def _read(self, name: str) -> Iterator[list[Any]]:
        """One part's ``[day, key, document]`` items (an ISO day sorts as the day does)."""
        with (self._directory / name).open("rb") as file:
            for _, line in zip(range(self._counts[name]), file, strict=False):
                item: list[Any] = orjson.loads(line)
                yield item

    def add(self, case: Case) -> None:
        raise TypeError("the replayed statuses are read from the replay; nothing is added")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for _day, _key, status in heapq.merge(self._read(_MINE), self._read(_THEIRS), key=lambda item: item[:2]):
            yield status

    def close(self) -> None:
        """Remove both parts' files."""
        shutil.rmtree(self._directory, ignore_errors=True)


if __name__ == "__main__":  # run from the module under its own name, so that what it pickles names that module
    from beslut.audit.parallel import _helper_main as helper_main

    sys.exit(helper_main())
