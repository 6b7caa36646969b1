"""The tick's claim reads the timers it takes, in index order, even when thousands share one instant.

At national scale (bench/bench_scale.py) ten thousand reminders fall due at the same 00:00.
The claim is ``pending AND due_at <= now ORDER BY due_at, id LIMIT 100``; with an index
on ``(status, due_at)`` alone PostgreSQL read every timer of that instant to sort each
batch by id. Migration 0004 made it ``(status, due_at, id)``: the plan has no sort step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event

from beslut.clock import STOCKHOLM
from beslut.persistence import Store
from beslut.workflow import Engine

INDEX = "ix_deadline_status_due_id"
TICK_AT = datetime(2022, 9, 20, 12, 0, tzinfo=STOCKHOLM)  # the 14-day reminders of the 2022 example are due


def _claim_plan(engine: Engine) -> tuple[str, int]:
    """The plan of the exact claim SQL a tick runs, and how many timers the tick fired."""
    sa_engine = engine.store.engine  # type: ignore[attr-defined]
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM deadline" in statement and "ORDER BY deadline.due_at, deadline.id" in statement:
            captured.append((statement, parameters))

    event.listen(sa_engine, "before_cursor_execute", capture)
    try:
        fired = engine.tick(TICK_AT)
    finally:
        event.remove(sa_engine, "before_cursor_execute", capture)
    assert captured, "the tick ran no claim"
    statement, parameters = captured[0]
    with sa_engine.connect() as connection:
        if sa_engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(row[-1]) for row in rows), len(fired)
        connection.exec_driver_sql("SET enable_seqscan = off")  # nine parties' timers: a real table is larger
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(str(row[0]) for row in rows), len(fired)


def test_the_claim_reads_the_due_index_in_order(store: Store, recommended: Engine) -> None:
    """Both databases take the due timers from ix_deadline_status_due_id already ordered: no sort step."""
    assert recommended.store is store
    plan, fired = _claim_plan(recommended)
    assert fired > 0  # the reminders were due, so the plan is of a claim that found work
    assert INDEX in plan, plan
    assert "Sort" not in plan, plan  # PostgreSQL: neither Sort nor Incremental Sort
    assert "TEMP B-TREE" not in plan, plan  # SQLite: no temporary b-tree for the ORDER BY
