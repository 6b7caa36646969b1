"""What the scheduler's checkpoint job costs on a large log: incremental (from the last checkpoint) against full.

Run::

    .venv/bin/python -m bench.bench_checkpoint [--events N] [--new M] [--db-dir DIR]

Builds a log of N events (bench/bench_audit.py's builder: realistic interleaved streams
through the store's own ``append_events``) in a fresh SQLite file, signs a checkpoint of it
with a full verification, appends about M more events, and then times, on the same log:

- **raw**: bench_audit's plain ``sqlite3`` + SHA-256 chain over the *whole* log (the least a
  checker that re-reads everything must do);
- **full**: :func:`beslut.audit.extend.full` (what ``audit checkpoint`` does: the whole log
  through chain, Merkle tree, machines and command rules), then signing;
- **incremental**: :func:`beslut.audit.extend.extend` from the first checkpoint (seq 1 and the
  signed head re-read, the new events' chain checked, their recommendations replayed, the
  Merkle tree resumed from the signed subtrees), then signing.

Each is reported in seconds and as a ratio to raw (less is cheaper); runs are interleaved
(raw, full, incremental, then again in reverse) and the mean of the two is reported. The
incremental and the full checkpoint must be the same statement (same size, head, root): the
bench checks that. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.bench_audit import build_log, raw_chain
from beslut.audit.extend import extend, full
from beslut.clock import STOCKHOLM
from beslut.persistence import open_store

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=STOCKHOLM)


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Build, time, print; return 0."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the log at the first checkpoint")
    parser.add_argument("--new", type=int, default=1_000, help="events appended after it (at least)")
    parser.add_argument("--db-dir", type=Path, default=None, help="where to put the temporary database")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="bench-checkpoint-", dir=args.db_dir))
    try:
        path = directory / "log.db"
        store = open_store(str(path))
        try:
            store.create_schema()
            started = time.perf_counter()
            built = build_log(store, args.events)
            key = Ed25519PrivateKey.generate()
            first = full(store, key, None, now=NOW).checkpoint
            assert first is not None
            added = build_log(store, args.new, group=5)
            print(f"log: {built:,} events, then {added:,} more; built in {time.perf_counter() - started:.0f} s")
            results: dict[str, list[float]] = {"raw": [], "full": [], "incremental": []}
            runs: dict[str, Callable[[], object]] = {
                "raw": lambda: raw_chain(path),
                "full": lambda: full(store, key, first, now=NOW),
                "incremental": lambda: extend(store, key, first, now=NOW),
            }
            for order in (list(runs), list(reversed(runs))):
                for name in order:
                    results[name].append(_timed(runs[name]))
            whole = full(store, key, first, now=NOW).checkpoint
            step = extend(store, key, first, now=NOW)
            assert whole is not None
            assert step is not None
            assert step.checkpoint is not None
            assert step.checkpoint.as_dict() == whole.as_dict(), "incremental and full signed different statements"
        finally:
            store.close()
        raw = sum(results["raw"]) / 2
        print(f"{'run':<52} {'seconds':>9} {'vs raw':>8}")
        labels = {
            "raw": f"raw sqlite3 + sha256 chain ({built + added:,} events)",
            "full": "full verification + sign (the whole log)",
            "incremental": f"incremental + sign ({step.checked:,} new events, {step.streams} streams)",
        }
        for name, label in labels.items():
            mean = sum(results[name]) / 2
            print(f"{label:<52} {mean:>9.3f} {mean / raw:>7.3f}x")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
