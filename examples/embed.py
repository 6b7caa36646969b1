"""Embed beslut in a Python service: the same commands, refusals and guarantees as the CLI and the HTTP API.

Run it on a scratch SQLite file (or pass a path or a postgresql+psycopg:// URL)::

    python examples/embed.py                 # a new file in a temporary directory
    python examples/embed.py /tmp/demo.db    # a file of your choice (it must not hold this case yet)

It opens a store, proposes the 2022 Mini-Maria recommendation, recommends it, records
Östersund's decision conditional on the version it read, shows a refusal caught as an
exception (with the exit code the CLI would have used), prints the status and verifies
the audit log. docs/embedding.md explains each step and the guarantees.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

from beslut import AuditVerificationFailed, ConcurrencyConflict, Engine, TransitionNotAllowed, case_status
from beslut.persistence.schema import require_current_store

SPEC = Path(__file__).resolve().with_name("mini-maria-2022.toml")
KEY = "svom-2022-mini-maria"
OSTERSUND, KROKOM = "2380", "2309"


def main(argv: list[str]) -> int:
    """Play the example on the database named in *argv* (or a temporary file); return the exit code."""
    scratch = Path(tempfile.mkdtemp(prefix="beslut-embed-")) / "beslut.db" if len(argv) < 2 else None
    database = str(scratch) if scratch is not None else argv[1]

    # One Engine per process (or per thread pool): it holds the store's connection pool.
    # `actor` is the id recorded in every audit event this engine writes: an id, never a name.
    with Engine.open(database, actor="service:registry-sync") as engine:
        engine.init()  # creates the schema on a new database; leaves an existing one as it is
        require_current_store(engine.store)  # refuse a schema behind or ahead of this beslut (`beslut db upgrade`)

        proposed = engine.propose(SPEC.read_text(encoding="utf-8"), on=date(2022, 6, 3))
        print(f"proposed {proposed.case.key}: state {proposed.case.state}, version {proposed.version}")

        recommended = engine.recommend(KEY, on=date(2022, 6, 3), expected_version=proposed.version)
        print(f"recommended: state {recommended.case.state}, version {recommended.version}")

        # Optimistic concurrency: say which version the change is based on.
        decided = engine.decide(
            KEY,
            OSTERSUND,
            outcome="approved",
            paragraph="§ 164",
            on=date(2022, 9, 5),
            expected_version=recommended.version,
        )
        print(f"{OSTERSUND} decided: {decided.case.party(OSTERSUND).state}, version {decided.version}")

        # A refusal is an exception; nothing was written. Based on a version that is no longer current:
        try:
            engine.decide(
                KEY,
                KROKOM,
                outcome="approved",
                paragraph="§ 88",
                on=date(2022, 9, 6),
                expected_version=recommended.version,
            )
        except ConcurrencyConflict as refusal:
            print(f"refused (the CLI would exit {refusal.exit_code}): {refusal}")

        # A step the party's state does not allow yet (Krokom has not decided, so nothing to announce):
        try:
            engine.announce(KEY, KROKOM, on=date(2022, 9, 7))
        except TransitionNotAllowed as refusal:  # a RuleViolation, a Refusal: catch whichever level you need
            print(f"refused (the CLI would exit {refusal.exit_code}): {refusal}")

        status = case_status(engine.case(KEY))
        print(f"status: {status['state']}, version {status['version']}")
        for party in status["parties"]:
            print(f"  {party['key']:<10} {party['state']:<10} {party['amount']:>12} SEK")

        report = engine.verify_audit()
        print(f"audit: {'ok' if report.ok else 'BROKEN'}, {report.events} events, head {report.head_hash[:16]}")
        return 0 if report.ok else AuditVerificationFailed.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
