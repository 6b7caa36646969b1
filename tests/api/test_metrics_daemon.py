"""The scheduler gauges of `/metrics` follow a real `beslut scheduler run` process, on both stores.

The daemon is a real process (tests/scheduler/daemon_helpers.py) ticking every second on the real
clock; the app reads its heartbeat row at each scrape. What the daemon recorded (tick duration and
lag) is what the gauges say, a running daemon is counted, and a stopped one leaves the gauges.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import StarletteDeprecationWarning

from beslut.api import create_app
from beslut.persistence import open_store
from beslut.states.records import Heartbeat
from tests.scheduler.daemon_helpers import build_workload, daemons, wait_until

with warnings.catch_warnings():  # starlette warns that it prefers httpx2; its test client works with httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
DAEMON = "metrics-d1"


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert 200 == response.status_code
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def heartbeat(url: str) -> Heartbeat | None:
    store = open_store(url, read_only=True)
    try:
        with store.reader() as reader:
            return next((beat for beat in reader.heartbeats() if beat.daemon_id == DAEMON), None)
    finally:
        store.close()


def test_gauges_follow_a_running_then_stopped_daemon(store_url: str, tmp_path: Path) -> None:
    """Heartbeat age small, duration and lag as recorded, one daemon running; after SIGTERM it is left out."""
    build_workload(store_url, 1)  # 45 timers due on the real clock: the first ticks have work to do
    with daemons(tmp_path, store_url) as group, TestClient(create_app(store_url)) as client:
        daemon = group.start(DAEMON, tick_seconds=1.0)  # ticks far enough apart to read a row between two
        daemon.wait_started()

        def timed() -> bool:
            beat = heartbeat(store_url)
            return beat is not None and beat.last_tick_seconds is not None and beat.last_tick_lag_seconds is not None

        wait_until("a scheduled tick with its duration and lag in the heartbeat", timed, timeout=30)
        before = heartbeat(store_url)
        samples = scrape(client)
        after = heartbeat(store_url)
        assert before is not None
        assert after is not None
        label = (("daemon", DAEMON),)
        assert 1.0 == samples[("beslut_scheduler_daemons_running", ())]
        assert 0.0 <= samples[("beslut_scheduler_heartbeat_age_seconds", label)] < 30.0
        # The gauges are the heartbeat row as the scrape read it: the one before, or (a tick in between) after.
        recorded = {
            (before.last_tick_seconds, before.last_tick_lag_seconds),
            (after.last_tick_seconds, after.last_tick_lag_seconds),
        }
        gauges = (
            samples[("beslut_scheduler_tick_duration_seconds", label)],
            samples[("beslut_scheduler_tick_lag_seconds", label)],
        )
        assert gauges in recorded
        assert gauges[0] > 0.0
        assert gauges[1] >= 0.0

        code, _seconds = daemon.stop()
        assert 0 == code
        samples = scrape(client)
        assert 0.0 == samples[("beslut_scheduler_daemons_running", ())]
        assert not any(labels == label for _, labels in samples), "a stopped daemon leaves the per-daemon gauges"
