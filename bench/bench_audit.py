"""Verify and replay rates of the auditor's tooling on a large log, each against a raw sha256 chain in the same run.

Run::

    .venv/bin/python -m bench.bench_audit [--events N] [--db-dir DIR] [--keep]

The log: a fresh SQLite file filled through the store's own ``UnitOfWork.append_events``
(so the rows, hashes and chain are exactly the engine's) with realistic streams made by
the domain's command functions: recommendations of the 2022 Mini-Maria spec (9 parties)
with every party preparing, proposing, deciding (some reject, some with conditions),
announcing, becoming final, some appealed (dismissed, or annulled and decided again),
some overdue, some withdrawn, then consolidation and coming into force; recommendations
are interleaved 20 at a time, so streams are interleaved in the log as in real use.
About 60-70 events per recommendation; the default N = 200,000 takes about a minute to
build, and ``--events 1000000`` gives the issue's figure.

Timed over the same log, each in its own read transaction:

- **raw**: plain :mod:`sqlite3`, ``SELECT`` every column ordered by seq, assemble the bytes
  the hash covers (the RFC 8785 object around the stored payload text, by string
  concatenation, with ``recorded_at`` turned from the stored UTC text into the hashed
  Europe/Stockholm form) and check ``sha256(bytes) == hash`` and ``prev_hash`` links: the
  least work a chain check over the same bytes can do;
- **verify, one process**: ``beslut audit verify`` without the CLI
  (:func:`beslut.audit.service.verify_store` with ``parallel=False``): read, chain (with the
  canonical-payload check), Merkle tree, and every event replayed through the machines and
  re-derived by its command;
- **verify, two processes**: the same split between this process and a helper
  (:mod:`beslut.audit.parallel`), what the CLI runs from 50,000 events on a machine with two cores;
- **verify (chain + Merkle only)**: one process, without the transition checks;
- **replay, one process** / **two processes**: ``beslut audit replay``
  (:func:`beslut.audit.service.replay_store`): chain and machines, all recommendations rebuilt and
  their status documents (what the command prints) read back;
- **verify_chain (reference)**: the chain alone (:func:`verify_chain`) over the store's typed reader.

Runs are interleaved (in the order above, then again in reverse) and the mean of the two is
reported, with each rate's ratio to raw: once by the wall clock (what the auditor waits) and once
by CPU time, this process's plus its helper's (the work done; for a two-process run it is more
than the wall clock, since both parts read every row).

Memory: the peak RSS of ``audit verify`` and ``audit replay`` each in a fresh child process
(its own high-water mark, ``VmHWM``; its ``ru_maxrss`` would include this big parent), on the
log at a quarter of its size and again at its full size (the log is grown in between): both
should stay flat, since the log is streamed and neither keeps every recommendation
(docs/performance.md).
No timing is asserted anywhere; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from beslut.audit import service
from beslut.clock import STOCKHOLM
from beslut.persistence import Store, open_store
from beslut.states import case as domain
from beslut.states.audit_chain import GENESIS_HASH, verify_chain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.spec import parse_spec_text

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "examples" / "mini-maria-2022.toml"
DEFAULT_EVENTS = 200_000
GROUP = 20
RECORDED_FROM = datetime(2023, 2, 1, 9, 0, tzinfo=STOCKHOLM)  # after every legal date used below
TODAY = date(2030, 1, 1)

D = date.fromisoformat
RECOMMENDED_ON = D("2022-06-03")
PREPARE_ON, PROPOSE_ON, DECIDE_ON, ANNOUNCE_ON = D("2022-06-10"), D("2022-06-20"), D("2022-08-22"), D("2022-08-25")
APPEAL_ON, SETTLE_ON = D("2022-09-01"), D("2022-09-20")
REDO = (D("2022-09-21"), D("2022-09-26"), D("2022-09-27"))  # propose, decide, announce again after an annulment
REPORT_ON, CONSOLIDATE_ON = D("2022-10-10"), D("2022-10-17")


# ---------------------------------------------------------------- the synthetic log


def recommendation_events(index: int, calendar: BusinessCalendar, template: Case | None = None) -> list[Event]:
    """The events of recommendation *index*, made by the domain's own command functions, in command order."""
    spec = parse_spec_text(SPEC_PATH.read_text(encoding="utf-8")) if template is None else template.spec
    spec = replace(spec, key=f"audit-bench-{index:07d}")
    events: list[Event] = []
    case: Case | None = None

    def run(new: list[Event]) -> None:
        nonlocal case
        for event in new:
            stamped = replace(event, payload={**event.payload, "actor": "bench"})
            case = domain.apply(case, stamped, calendar)
            events.append(stamped)

    run([domain.propose(spec, on=RECOMMENDED_ON, today=TODAY)])
    assert case is not None
    run(domain.recommend(case, on=RECOMMENDED_ON, today=TODAY))
    if index % 10 == 9:  # withdrawn after a few steps
        run(domain.prepare_party(case, spec.parties[0].key, case_number=f"KS {index}/1", on=PREPARE_ON, today=TODAY))
        run(domain.withdraw(case, on=PROPOSE_ON, today=TODAY, reason="a new inquiry is needed"))
        return events
    silent = spec.parties[-1].key if index % 4 == 0 else None
    for j, party in enumerate(spec.parties):
        if party.key == silent:
            continue
        mix = index + j
        run(domain.prepare_party(case, party.key, case_number=f"KS 2022/{index % 997}", on=PREPARE_ON, today=TODAY))
        run(domain.propose_party(case, party.key, body="SAU", paragraph=f"§ {j + 1}", on=PROPOSE_ON, today=TODAY))
        outcome, conditions = "approved", None
        if mix % 7 == 0:
            outcome = "rejected"
        elif mix % 5 == 0:
            outcome, conditions = "approved_with_conditions", "the Region runs the clinic"
        run(domain.decide_party(case, party.key, outcome=outcome, paragraph=f"§ {40 + j}", on=DECIDE_ON,
                                today=TODAY, conditions=conditions))  # fmt: skip
        run(domain.announce_party(case, party.key, on=ANNOUNCE_ON, today=TODAY, calendar=calendar))
        if mix % 11 == 0:
            run(domain.appeal_party(case, party.key, on=APPEAL_ON, today=TODAY))
            run(domain.settle_party(case, party.key, result="dismissed", on=SETTLE_ON, today=TODAY))
        elif mix % 13 == 0:
            run(domain.appeal_party(case, party.key, on=APPEAL_ON, today=TODAY))
            run(domain.settle_party(case, party.key, result="annulled", on=SETTLE_ON, today=TODAY))
            run(domain.propose_party(case, party.key, body="KSAU", paragraph="§ 98", on=REDO[0], today=TODAY))
            run(domain.decide_party(case, party.key, outcome="approved", paragraph="§ 99", on=REDO[1], today=TODAY))
            run(domain.announce_party(case, party.key, on=REDO[2], today=TODAY, calendar=calendar))
        else:
            last_day = case.party(party.key).appeal_last_day
            assert last_day is not None
            run(domain.make_final(case, party.key, on=last_day + timedelta(days=1)))
        run(domain.report_party(case, party.key, on=REPORT_ON, today=TODAY))
    if silent is not None:
        run(domain.mark_overdue(case, silent, on=case.party(silent).deadline + timedelta(days=1)))
    run(domain.consolidate(case, on=CONSOLIDATE_ON, today=TODAY))
    for decision in case.parties:  # decisions announced after an annulment become final after consolidation
        if decision.state == "announced" and decision.appeal_last_day is not None:
            run(domain.make_final(case, decision.key, on=decision.appeal_last_day + timedelta(days=1)))
    if case.spec.in_force_on is not None:
        run(domain.enter_into_force(case, on=case.spec.in_force_on))
    return events


def interleaved(first: int, count: int, calendar: BusinessCalendar) -> Iterator[list[Event]]:
    """Batches of events of recommendations first..first+count-1, one event of each in turn (round robin)."""
    streams = [recommendation_events(first + i, calendar) for i in range(count)]
    position = 0
    while True:
        batch = [s[position] for s in streams if position < len(s)]
        if not batch:
            return
        yield batch
        position += 1


def build_log(store: Store, events: int, *, group: int = GROUP, progress: Callable[[int], None] | None = None) -> int:
    """Append at least *events* events of synthetic recommendations through the store; return how many.

    Numbering continues after the recommendations already there, so a log can be grown.

    Recommendations are written *group* at a time in one transaction each: their rows (in their
    final state, so the live tables equal the replay) and their events, interleaved round-robin,
    with recorded_at one second apart per batch.
    """
    calendar = BusinessCalendar()
    with store.reader() as reader:
        index = len(reader.list_cases())  # continue after what is there (recommendation keys are numbered)
    written = 0
    recorded = RECORDED_FROM + timedelta(seconds=100 * index)
    while written < events:
        batches = list(interleaved(index, group, calendar))
        with store.unit_of_work() as uow:
            cases: dict[str, Case | None] = {}
            for batch in batches:
                for event in batch:
                    cases[event.stream] = domain.apply(cases.get(event.stream), event, calendar)
            for case in cases.values():
                assert case is not None
                uow.add_case(case, now=recorded)
            for batch in batches:
                uow.append_events(batch, recorded_at=recorded)
                recorded += timedelta(seconds=1)
                written += len(batch)
        index += group
        if progress is not None:
            progress(written)
    return written


# ---------------------------------------------------------------- the raw baseline


def raw_chain(path: Path) -> int:
    """Check the chain with plain sqlite3 and hashlib over the same bytes; return the events checked."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.execute(
            "SELECT seq, stream, stream_seq, recorded_at, valid_on, kind, payload, prev_hash, hash"
            " FROM audit_event ORDER BY seq"
        )
        prev = GENESIS_HASH
        count = 0
        dumps = json.dumps
        sha256 = hashlib.sha256
        fromisoformat = datetime.fromisoformat
        for seq, stream, stream_seq, stored_at, valid_on, kind, payload, prev_hash, digest in cursor:
            # The hash covers the instant in Europe/Stockholm; SQLite stores it as UTC text.
            recorded_at = fromisoformat(stored_at).astimezone(STOCKHOLM).isoformat(timespec="microseconds")
            text = (
                '{"kind":' + dumps(kind, ensure_ascii=False) + ',"payload":' + payload
                + ',"prev_hash":"' + prev_hash + '","recorded_at":"' + recorded_at + '","seq":' + str(seq)
                + ',"stream":' + dumps(stream, ensure_ascii=False) + ',"stream_seq":' + str(stream_seq)
                + ',"valid_on":"' + valid_on + '"}'
            )  # fmt: skip
            if prev_hash != prev or sha256(text.encode("utf-8")).hexdigest() != digest:
                raise RuntimeError(f"raw chain broken at seq {seq}")
            prev = digest
            count += 1
        return count
    finally:
        connection.close()


# ---------------------------------------------------------------- timing


def _memory_line(path: Path, events: int) -> str:
    verify, verify_helper = child_peak_rss_mb(path, "verify")
    replay, replay_helper = child_peak_rss_mb(path, "replay")
    return (
        f"peak RSS of a child process at {events} events: verify {verify:.0f} MiB (its helper <= {verify_helper:.0f}),"
        f" replay {replay:.0f} MiB (its helper <= {replay_helper:.0f})"
    )


def child_peak_rss_mb(path: Path, what: str) -> tuple[float, float]:
    """Peak RSS in MiB of `audit verify` or `audit replay` (without the CLI) run alone in a fresh child process.

    Also an upper bound of its helper process's (two processes from MIN_EVENTS events on, as the CLI runs
    them): ``ru_maxrss`` of the waited-for children, which may include the size of the process that started it.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_audit", "--child", what, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    own, helper = done.stdout.split()[-2:]
    return float(own), float(helper)


def _child(what: str, path: str) -> int:
    """The child's side: run one command over the log, print its own peak RSS (MiB)."""
    store = open_store(path, read_only=True)
    try:
        if what == "verify":
            assert service.verify_store(store).ok
        else:
            result = service.replay_store(store)
            assert sum(1 for _ in result.statuses) == len(result.statuses)  # read the output back, as printing does
            result.close()
    finally:
        store.close()
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{own_peak_rss_mb():.1f} {helper:.1f}")
    return 0


def own_peak_rss_mb() -> float:
    """This process's own peak RSS in MiB.

    Linux's ``ru_maxrss`` keeps the high-water mark across ``execve``, so a child started by a big parent
    reports at least the parent's size at the fork; ``VmHWM`` in /proc belongs to the new program only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(run: Callable[[], int]) -> tuple[int, float, float]:
    """Run once; return (events, wall seconds, CPU seconds of this process and of the children it waited for)."""
    began, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    count = run()
    return count, time.perf_counter() - began, time.process_time() - cpu + _children_cpu() - children


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the audit helper process of a two-process run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _build(path: Path, events: int) -> int:
    """Build the log in *path* (measuring memory at a quarter and at the end); print what was built."""
    store = open_store(path)
    store.create_schema()
    began = time.perf_counter()
    progress: Callable[[int], None] = lambda n: print(f"\rbuilding: {n} events", end="", file=sys.stderr)  # noqa: E731
    memory: list[str] = []
    quarter = build_log(store, max(events // 4, 1), progress=progress)
    memory.append(_memory_line(path, quarter))
    total = quarter + build_log(store, events - quarter, progress=lambda n: progress(quarter + n))
    if total > quarter:
        memory.append(_memory_line(path, total))
    store.close()
    print(file=sys.stderr)
    build_seconds = time.perf_counter() - began
    print(f"log: {total} events in {path.stat().st_size / 2**20:.0f} MiB, built in {build_seconds:.1f} s")
    print(f"peak RSS after building: {peak_rss_mb():.0f} MiB")
    for line in memory:
        print(line)
    return total


def main(argv: list[str] | None = None) -> int:
    """Build the log, time every reader over it, print the rates and ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="how many events to build (at least)")
    parser.add_argument("--db-dir", type=Path, default=None, help="where to put the temporary database")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--log", type=Path, default=None, help="time this existing log (audit.db of a --keep run)")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return _child(*args.child)
    if args.log is not None:  # time an existing log (kept by an earlier --keep run) without building it again
        directory, path = args.log.parent, args.log
        args.keep = True
    else:
        directory = Path(tempfile.mkdtemp(prefix="beslut-bench-audit-", dir=args.db_dir))
        path = directory / "audit.db"
    try:
        if args.log is not None:
            given = open_store(path, read_only=True)
            with given.reader() as existing:
                total = existing.audit_head_seq()
            given.close()
            print(f"log: {total} events in {path.stat().st_size / 2**20:.0f} MiB (given, not built)")
            print(_memory_line(path, total))
        else:
            total = _build(path, args.events)
        reader = open_store(path, read_only=True)

        def verify(parallel: bool) -> int:
            report = service.verify_store(reader, parallel=parallel)
            assert report.ok, report.problem
            return report.events

        def chain_only() -> int:
            from beslut.audit.verify import Verifier  # noqa: PLC0415
            from beslut.workflow.audit_log import read_log  # noqa: PLC0415

            with reader.reader() as r:
                report = Verifier(check_transitions=False).run(read_log(r))
            assert report.ok, report.problem
            return report.events

        def replay(parallel: bool) -> int:
            result = service.replay_store(reader, parallel=parallel)
            shown = sum(1 for _ in result.statuses)  # the documents `audit replay` prints, read back
            assert shown == len(result.statuses)
            result.close()
            return result.log_events

        def reference() -> int:
            with reader.reader() as r:
                report = verify_chain(r.audit_records())
            assert report.ok, report.problem
            return report.events

        runs: list[tuple[str, Callable[[], int]]] = [
            ("raw sqlite3 + sha256 chain", lambda: raw_chain(path)),
            ("verify, one process", lambda: verify(False)),
            ("verify, two processes", lambda: verify(True)),
            ("verify (chain + Merkle only)", chain_only),
            ("replay, one process", lambda: replay(False)),
            ("replay, two processes", lambda: replay(True)),
            ("verify_chain (reference)", reference),
        ]
        seconds: dict[str, float] = {name: 0.0 for name, _ in runs}
        cpu_seconds: dict[str, float] = {name: 0.0 for name, _ in runs}
        for order in (runs, list(reversed(runs))):
            for name, run in order:
                print(f"timing {name} …", file=sys.stderr)
                count, elapsed, cpu = timed(run)
                assert count == total, (name, count, total)
                seconds[name] += elapsed / 2
                cpu_seconds[name] += cpu / 2
        reader.close()
        title = "CPU time of this process and its helper"
        for heading, spent in (("wall clock", seconds), (title, cpu_seconds)):
            raw_rate = total / max(spent[runs[0][0]], 1e-9)
            print(f"{'run (' + heading + ')':<48} {'events/s':>12} {'vs raw':>8}")
            for name, _ in runs:
                rate = total / max(spent[name], 1e-9)
                print(f"{name:<48} {rate:>12,.0f} {rate / raw_rate:>7.2f}x")
        print("targets: verify >= 0.3x raw; replay >= 50,000 events/s (wall clock; two processes from 50,000 events)")
        print(f"peak RSS after the timed runs: {peak_rss_mb():.0f} MiB")
        return 0
    finally:
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
