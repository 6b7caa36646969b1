"""Keep bench/bench_scale.py from rotting: a tiny national-scale run on the throwaway PostgreSQL server.

Only that it loads, measures and continues a stopped load is checked; no timing is ever asserted.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.bench_scale import TICK_AT, late_parties, libpq_url, main, steps_for

pytestmark = pytest.mark.postgres


def _results(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return {record["point_id"]: record for record in map(json.loads, lines)}


def test_smoke_run_loads_measures_and_ticks(postgres_url: str, tmp_path: Path) -> None:
    """3 recommendations x 5 parties through the engine; every measurement is taken and makes sense."""
    assert main(["--smoke", "--postgres", postgres_url, "--out", str(tmp_path)]) == 0

    results = _results(tmp_path)
    sizes = results["end-15:size"]["tables"]
    assert sizes["recommendation"]["rows"] == 3
    assert sizes["party_decision"]["rows"] == 15
    # every party step is one audit event, plus propose and recommend per recommendation, plus the command
    # measured at point 15 (a late party of scale-00002 prepared; the first two have no late party)
    assert late_parties(0, 5) == late_parties(1, 5) == []
    assert "5:rss command" not in results
    assert results["15:rss command"]["ok"]
    assert sizes["audit_event"]["rows"] == sum(len(steps_for(r, 5)) for r in range(3)) + 2 * 3 + 1
    overdue = results["end-15:overdue"]
    assert overdue["rows"] == sum(5 - len({s.party for s in steps_for(r, 5) if s.action == "decide"}) for r in range(3))
    assert overdue["engine_p99_ms"] > 0
    assert results["end-15:status"]["samples"] == 10
    tick = results["final-15:tick"]
    # The point ticks (limit 100) already fired cohort 0's 14-day reminders of this tiny load, so the final
    # tick goes a week on: 7-day reminders (one message each: one contact per party) and appeal-period ends.
    assert tick["tick_at"] == (TICK_AT + timedelta(days=7)).isoformat()
    assert tick["fired"] == tick["due"] > 0
    assert 0 < tick["outbox_rows_written"] < tick["fired"]
    points = (
        "5:rss status-all",
        "5:rss matrix",
        "5:rss dashboard",
        "5:rss tick",
        "15:rss command",
        "final-15:rss command",
    )
    for point_id in points:
        child = results[point_id]
        assert child["ok"], child
        assert child["vmhwm_mib"] > 10
    assert results["5:rss tick"]["fired"] == results["5:rss tick"]["messages"] > 0
    assert results["5:rss dashboard"]["columns"] == 1  # the one recommendation loaded by then
    assert results["15:rss command"]["party"] in late_parties(2, 5)
    # the final point prepares the other late party of the same recommendation
    assert results["final-15:rss command"]["party"] != results["15:rss command"]["party"]

    # --measure-only: nothing loaded, everything measured again under the label, the tick a week further on
    assert (
        main(
            ["--smoke", "--postgres", postgres_url, "--out", str(tmp_path), "--measure-only", "again", "--rss", "tick"]
        )
        == 0
    )
    again = _results(tmp_path)
    assert again["again-15:size"]["tables"]["party_decision"]["rows"] == 15
    assert again["again-15:status"]["samples"] == 10
    assert again["again-15:rss tick"]["ok"]
    assert again["again-15:tick"]["tick_at"] > tick["tick_at"]


def test_a_stopped_load_is_continued(postgres_url: str, tmp_path: Path) -> None:
    """A recommendation cut between its commands is finished by the next run, and nothing is loaded twice."""
    light = ["--postgres", postgres_url, "--out", str(tmp_path), "--parties", "4", "--points", "400", "--rss", ""]
    assert main([*light, "--recommendations", "2", "--status-samples", "4", "--point-samples", "4"]) == 0
    from bench.bench_scale import CLOCK_AT, RECOMMENDED_ON, spec_text  # noqa: PLC0415
    from beslut import Engine, FixedClock, open_store  # noqa: PLC0415

    with Engine(open_store(postgres_url), clock=FixedClock(CLOCK_AT), actor="bench") as engine:
        engine.propose(spec_text(2, 4), on=RECOMMENDED_ON)  # as if the bench was killed after propose

    assert main([*light, "--recommendations", "4", "--status-samples", "4", "--point-samples", "4"]) == 0

    with psycopg.connect(libpq_url(postgres_url)) as conn:
        keys = [key for (key,) in conn.execute("SELECT key FROM recommendation ORDER BY key")]
        (events,) = conn.execute("SELECT count(*) FROM audit_event").fetchone() or (0,)
    assert keys == ["scale-00000", "scale-00001", "scale-00002", "scale-00003"]
    assert events == sum(len(steps_for(r, 4)) for r in range(4)) + 2 * 4
