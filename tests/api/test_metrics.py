"""`/metrics`: the Prometheus text parses, counters move, and the database gauges equal what the database holds.

The gauges are checked on both stores against figures computed another way (listing rows
through the engine and counting them in Python), so a wrong aggregate query shows.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import StarletteDeprecationWarning

from beslut.api.metrics import COMMAND_RESULTS, REFUSAL_RESULTS, ApiMetrics, install_metrics
from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import Store, open_store
from beslut.scheduler.notifiers import DeliveryError, Message
from beslut.scheduler.outbox import OutboxDelivery
from beslut.states.records import Contact, Heartbeat
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES, spec_2022, spec_2025

with warnings.catch_warnings():  # starlette warns that it prefers httpx2; its test client works with httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """GET /metrics, parsed with prometheus_client's own parser: {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def families(client: TestClient) -> dict[str, str]:
    """{family name: type} of one scrape."""
    return {f.name: f.type for f in text_string_to_metric_families(client.get("/metrics").text)}


def metrics_app(store: Store, clock: FixedClock) -> FastAPI:
    """A bare app with the operator endpoints (the API's create_app installs them the same way)."""
    app = FastAPI()
    install_metrics(app, store, clock=clock)

    @app.get("/things/{key}")
    def thing(key: str) -> dict[str, str]:
        return {"key": key}

    return app


@pytest.fixture
def client(store: Store, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(metrics_app(store, clock)) as test_client:
        yield test_client


class FailingFor:
    """A notifier that fails for one contact and delivers to the others (a test notifier, not a mock database)."""

    name = "test"

    def __init__(self, bad_contact: str) -> None:
        self.bad_contact = bad_contact
        self.sent: list[str] = []

    def send(self, message: Message) -> None:
        if message.recipient.contact_id == self.bad_contact:
            raise DeliveryError("receiver down")
        self.sent.append(message.recipient.contact_id)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=STOCKHOLM)


class TestExposition:
    def test_text_parses_and_names_follow_the_conventions(self, client: TestClient) -> None:
        """Every family parses; counters end in _total, durations and ages in _seconds."""
        client.get("/things/a")
        client.app.state.metrics.record_command("decide", "ok")  # type: ignore[attr-defined]
        found = families(client)
        assert {
            "beslut_commands": "counter",
            "beslut_refusals": "counter",
            "beslut_http_request_duration_seconds": "histogram",
            "beslut_database_up": "gauge",
            "beslut_recommendations": "gauge",
            "beslut_overdue_parties": "gauge",
            "beslut_outbox_messages": "gauge",
            "beslut_outbox_oldest_queued_age_seconds": "gauge",
            "beslut_timers_oldest_due_age_seconds": "gauge",
            "beslut_audit_head_seq": "gauge",
            "beslut_scheduler_heartbeat_age_seconds": "gauge",
            "beslut_scheduler_tick_duration_seconds": "gauge",
            "beslut_scheduler_tick_lag_seconds": "gauge",
            "beslut_scheduler_daemons_running": "gauge",
        }.items() <= found.items()
        samples = scrape(client)
        assert 1.0 == samples[("beslut_commands_total", (("kind", "decide"), ("result", "ok")))]
        assert all(name.startswith("beslut_") for name, _ in samples)

    def test_openmetrics_when_the_scraper_asks_for_it(self, client: TestClient) -> None:
        """Prometheus asks for OpenMetrics in its Accept header; the answer parses with the OpenMetrics parser."""
        client.app.state.metrics.record_command("decide", "forbidden")  # type: ignore[attr-defined]
        response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert 200 == response.status_code
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.text.endswith("# EOF\n")
        parsed = {f.name: f for f in openmetrics_families(response.text)}  # type: ignore[no-untyped-call]  # prometheus_client's OpenMetrics parser has no annotations
        assert "counter" == parsed["beslut_refusals"].type
        forbidden = [s for s in parsed["beslut_refusals"].samples if s.labels == {"reason": "forbidden"}]
        assert [1.0] == [s.value for s in forbidden if s.name == "beslut_refusals_total"]
        assert "gauge" == parsed["beslut_audit_head_seq"].type

    def test_request_latency_is_labelled_by_route_template_not_path(self, client: TestClient) -> None:
        """Two keys, one route label: clients cannot blow up the label set; unknown paths share one label."""
        client.get("/things/a")
        client.get("/things/b")
        assert 404 == client.get("/no/such/path").status_code
        samples = scrape(client)
        count = "beslut_http_request_duration_seconds_count"
        assert 2.0 == samples[(count, (("method", "GET"), ("route", "/things/{key}"), ("status", "200")))]
        assert 1.0 == samples[(count, (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))]
        assert not any("/things/a" in str(labels) for _, labels in samples)

    def test_an_unknown_method_adds_no_series(self, client: TestClient) -> None:
        """Made-up methods (anyone may send them, unauthenticated) share the `other` label; no new series each."""
        client.get("/things/a")
        client.request("FOOBAR0", "/things/a")
        client.request("FOOBAR0", "/healthz")
        scrape(client)  # the scrape itself is a request: its series exists from here on
        before = scrape(client)
        for method in ("FOOBAR1", "FOOBAR2", "FOOBAR1"):
            client.request(method, "/things/a")
            client.request(method, "/healthz")
        after = scrape(client)
        assert set(before) == set(after)
        assert not any("FOOBAR" in str(labels) for _, labels in after)
        methods = {dict(labels).get("method") for name, labels in after if name.startswith("beslut_http_request")}
        assert {"GET", "other"} == methods

    def test_two_apps_in_one_process_keep_their_own_counts(self, store: Store, clock: FixedClock) -> None:
        """Each app has its own registry: no duplicate-name error, and counts do not leak across."""
        first, second = metrics_app(store, clock), metrics_app(store, clock)
        first.state.metrics.record_command("recommend", "ok")
        with TestClient(first) as one, TestClient(second) as two:
            key = ("beslut_commands_total", (("kind", "recommend"), ("result", "ok")))
            assert 1.0 == scrape(one)[key]
            assert key not in scrape(two)


class TestCommandCounters:
    def test_every_result_is_counted_and_refusals_by_reason(self, store: Store, clock: FixedClock) -> None:
        """ok and error are not refusals; the five refusal results are, under their own reason or a finer one."""
        metrics = ApiMetrics(store, clock=clock)
        for result in COMMAND_RESULTS:
            metrics.record_command("decide", result)
        metrics.record_command("decide", "conflict", reason="stale_version")
        body, content_type = metrics.render()
        assert content_type.startswith("text/plain; version=0.0.4")
        text = body.decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }
        for result in COMMAND_RESULTS:
            expected = 2.0 if result == "conflict" else 1.0
            assert expected == samples[("beslut_commands_total", (("kind", "decide"), ("result", result)))]
        for reason in REFUSAL_RESULTS:
            assert 1.0 == samples[("beslut_refusals_total", (("reason", reason),))]
        assert 1.0 == samples[("beslut_refusals_total", (("reason", "stale_version"),))]
        assert ("beslut_refusals_total", (("reason", "ok"),)) not in samples
        assert ("beslut_refusals_total", (("reason", "error"),)) not in samples

    def test_an_unknown_result_is_refused(self, store: Store, clock: FixedClock) -> None:
        """A result outside the fixed set is a bug in the caller, not a new label value."""
        metrics = ApiMetrics(store, clock=clock)
        with pytest.raises(ValueError, match="unknown command result 'refused'"):
            metrics.record_command("decide", "refused")


def build_operations(engine: Engine, clock: FixedClock) -> None:
    """Two recommendations, overdue parties, sent, failed and queued reminders, a due timer, two daemons."""
    on = date(2022, 6, 3)
    engine.propose(spec_2022(), on=on)
    engine.recommend(KEY, on=on)
    for party in PARTIES:
        if party not in ("2380", "2309"):
            engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=on)
    for contact_id, party in (("c-ok", "2380"), ("c-bad", "2380"), ("c-krokom", "2309")):
        engine.add_contact(Contact(id=contact_id, party=party))
    # The reply date has passed: 2380 and 2309 go overdue and reminders are queued.
    clock.set(at(2022, 10, 3, 0, 30))
    engine.tick(at(2022, 10, 3))
    notifier = FailingFor("c-bad")
    report = OutboxDelivery(engine.store, notifier, clock=clock, worker="w-test").deliver_due()
    assert report.sent >= 1
    assert report.failed >= 1
    # A later tick queues more reminders, left undelivered.
    clock.set(at(2022, 10, 15, 0, 30))
    engine.tick(at(2022, 10, 15))
    engine.beat(
        Heartbeat(
            daemon_id="host-a:101",
            hostname="host-a",
            pid=101,
            started_at=at(2022, 10, 1),
            last_tick_at=at(2022, 10, 22, 11, 59, 18),
            last_tick_handled=3,
            last_delivered=2,
            last_tick_seconds=0.25,
            last_tick_lag_seconds=1.5,
        )
    )
    engine.beat(
        Heartbeat(
            daemon_id="host-b:202",
            hostname="host-b",
            pid=202,
            started_at=at(2022, 10, 1),
            last_tick_at=at(2022, 10, 2),
            stopped_at=at(2022, 10, 2),
        )
    )
    clock.set(at(2022, 10, 22, 12, 0))  # the scrape: later than the next timers, so some are due and unfired


class TestDatabaseGauges:
    def test_gauges_equal_what_the_database_holds(self, engine: Engine, clock: FixedClock, client: TestClient) -> None:
        """Each database gauge equals the same figure counted from the rows the engine lists."""
        build_operations(engine, clock)
        engine.propose(spec_2025(), on=date(2022, 10, 22))
        samples = scrape(client)
        now = clock.now()

        cases = engine.cases()
        by_state = Counter(case.state for case in cases)
        assert {"recommended": 1, "proposed": 1} == dict(by_state)
        for state, count in by_state.items():
            assert count == samples[("beslut_recommendations", (("state", state),))]
        overdue = sum(p.overdue for case in cases if case.state == "recommended" for p in case.parties)
        assert 2 == overdue
        assert overdue == samples[("beslut_overdue_parties", ())]

        messages = engine.outbox()
        statuses = Counter(m.status for m in messages)
        assert {"sent", "failed", "queued"} <= set(statuses)
        for status in ("queued", "sent", "failed", "skipped"):
            assert statuses.get(status, 0) == samples[("beslut_outbox_messages", (("status", status),))]
        oldest_queued = min(m.created_at for m in messages if m.status == "queued")
        assert (now - oldest_queued).total_seconds() == samples[("beslut_outbox_oldest_queued_age_seconds", ())]

        due = [d.due_at for d in engine.deadlines(status="pending") if d.due_at <= now]
        assert due, "the scenario leaves a due, unfired timer"
        assert (now - min(due)).total_seconds() == samples[("beslut_timers_oldest_due_age_seconds", ())]

        assert engine.audit_log()[-1].seq == samples[("beslut_audit_head_seq", ())]

        daemon = (("daemon", "host-a:101"),)
        assert 42.0 == samples[("beslut_scheduler_heartbeat_age_seconds", daemon)]
        assert 0.25 == samples[("beslut_scheduler_tick_duration_seconds", daemon)]
        assert 1.5 == samples[("beslut_scheduler_tick_lag_seconds", daemon)]
        assert 1.0 == samples[("beslut_scheduler_daemons_running", ())]
        assert not any(labels == (("daemon", "host-b:202"),) for _, labels in samples), "a stopped daemon is left out"
        assert 1.0 == samples[("beslut_database_up", ())]

    def test_gauges_follow_the_database_between_scrapes(
        self, engine: Engine, clock: FixedClock, client: TestClient
    ) -> None:
        """Read at scrape time, not cached: a command between two scrapes shows in the second."""
        engine.propose(spec_2022(), on=date(2022, 6, 3))
        first = scrape(client)
        engine.recommend(KEY, on=date(2022, 6, 3))
        second = scrape(client)
        assert 1.0 == first[("beslut_recommendations", (("state", "proposed"),))]
        assert 1.0 == second[("beslut_recommendations", (("state", "recommended"),))]
        assert ("beslut_recommendations", (("state", "proposed"),)) not in second
        assert first[("beslut_audit_head_seq", ())] + 1 == second[("beslut_audit_head_seq", ())]

    def test_an_empty_database_has_zero_gauges(self, client: TestClient) -> None:
        """No rows: zeros, not missing series, for the figures operators alert on."""
        samples = scrape(client)
        assert 0.0 == samples[("beslut_audit_head_seq", ())]
        assert 0.0 == samples[("beslut_overdue_parties", ())]
        assert 0.0 == samples[("beslut_outbox_oldest_queued_age_seconds", ())]
        assert 0.0 == samples[("beslut_timers_oldest_due_age_seconds", ())]
        assert 0.0 == samples[("beslut_outbox_messages", (("status", "queued"),))]


class TestDatabaseDown:
    def test_a_removed_sqlite_file_gives_database_up_0_and_is_not_recreated(
        self, tmp_path: Path, clock: FixedClock
    ) -> None:
        """The scrape still answers; the database gauges are left out; no empty file appears."""
        path = tmp_path / "gone.db"
        store = open_store(path)
        store.create_schema()
        try:
            with TestClient(metrics_app(store, clock)) as client:
                assert 1.0 == scrape(client)[("beslut_database_up", ())]
                path.unlink()
                samples = scrape(client)
                assert 0.0 == samples[("beslut_database_up", ())]
                assert ("beslut_audit_head_seq", ()) not in samples
                assert not path.exists()
        finally:
            store.close()
