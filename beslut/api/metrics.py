"""Operators' metrics for the HTTP API, in the Prometheus text format (``GET /metrics``).

Two kinds of figures, kept apart on purpose:

- **What this process saw** (counters and a histogram in memory): commands by kind and
  result, refusals by reason, request latency. They reset when the process restarts,
  which Prometheus' ``rate()`` and ``increase()`` handle.
- **What the database holds** (gauges read at scrape time by :class:`StoreCollector`
  through the store's :class:`~beslut.workflow.ports.Reader`): outbox messages by
  status, the oldest queued message, the scheduler daemons' heartbeats, tick duration
  and lag, the oldest due timer, the audit head, recommendations by state, overdue
  parties. They are the same whichever API process is scraped, and they cover what
  the scheduler daemons do, which have no HTTP port of their own.

Each :class:`ApiMetrics` owns its own :class:`~prometheus_client.CollectorRegistry`,
never the library's global one: two apps in one process (tests, an embedding service)
would otherwise collide on metric names, and the global registry's process and GC
collectors are left out, so a scrape shows beslut's figures only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import datetime
from typing import Any, Final

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from beslut.api.health import router as operator_router
from beslut.clock import Clock, SystemClock
from beslut.errors import BeslutError
from beslut.persistence import Store
from beslut.states.records import OUTBOX_STATUSES

log = structlog.get_logger("beslut.api.metrics")

#: The results :meth:`ApiMetrics.record_command` accepts: a fixed set, so the label's cardinality is bounded.
COMMAND_RESULTS: Final = ("ok", "invalid", "not_found", "conflict", "unauthorized", "forbidden", "error")
#: The results that are refusals (the client's request was turned down; nothing was written).
REFUSAL_RESULTS: Final = ("invalid", "not_found", "conflict", "unauthorized", "forbidden")
#: Request latency buckets in seconds: a durable SQLite command takes a few milliseconds here.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE: Final = "<unmatched>"
#: The methods the latency histogram names; any other method a client sends (anyone may, unauthenticated)
#: counts as :data:`OTHER_METHOD`, so the label stays bounded.
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD: Final = "other"


class ApiMetrics:
    """The metrics of one API app: put on ``app.state.metrics`` by :func:`install_metrics`.

    Args:
        store: the app's store, read at scrape time for the database gauges.
        clock: where "now" comes from for ages (heartbeat age, oldest queued message).
    """

    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "beslut_commands",
            "Commands handled by the API, by command kind and result.",
            ["kind", "result"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "beslut_refusals",
            "Commands refused (nothing written), by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in REFUSAL_RESULTS:  # present from the first scrape, so rate() sees the first refusal
            self.refusals.labels(reason=reason)
        self.latency = Histogram(
            "beslut_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StoreCollector(store, clock=clock or SystemClock()))

    def record_command(self, kind: str, result: str, *, reason: str | None = None) -> None:
        """Count one command of *kind* that ended with *result* (one of :data:`COMMAND_RESULTS`).

        A refusal also counts in ``beslut_refusals_total`` under *reason* (by default the
        result itself; a caller may pass a finer, still bounded, reason such as the
        exception's class name).

        Raises:
            ValueError: *result* is not one of :data:`COMMAND_RESULTS` (an unbounded label is a bug).
        """
        if result not in COMMAND_RESULTS:
            raise ValueError(f"unknown command result {result!r}: expected one of {', '.join(COMMAND_RESULTS)}")
        self.commands.labels(kind=kind, result=result).inc()
        if result in REFUSAL_RESULTS:
            self.refusals.labels(reason=reason or result).inc()

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered HTTP request (a method outside :data:`KNOWN_METHODS` as :data:`OTHER_METHOD`)."""
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        self.latency.labels(method=method, route=route, status=str(status)).observe(seconds)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """Every metric (reading the database now) and its content type.

        The Prometheus text format, or OpenMetrics when the scraper's *accept* header
        asks for it (Prometheus does), as prometheus_client negotiates it.
        """
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class StoreCollector(Collector):
    """Gauges read from the database at each scrape, through the store's read port.

    Every query is one indexed aggregate or a scan of a tiny table (heartbeats: one row
    per daemon), in one read snapshot. If the database cannot answer, the scrape still
    succeeds with ``beslut_database_up 0`` and no database gauges, so an alert can tell
    "database down" from "no data".
    """

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: registering must not query the database."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Query the database and yield the gauges."""
        up = GaugeMetricFamily("beslut_database_up", "1 when the database answered this scrape's queries, else 0.")
        now = self.clock.now()
        try:
            metrics = list(self._read(now))
        except BeslutError as error:
            log.warning("metrics_database_unavailable", error=str(error))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self, now: datetime) -> Iterable[Metric]:
        problem = self.store.readiness_problem()  # e.g. an SQLite file removed: never query (and re-create) it
        if problem is not None:
            raise _Unavailable(problem)
        with self.store.reader() as reader:
            by_state = reader.recommendation_counts()
            overdue = reader.overdue_party_count()
            outbox = reader.outbox_counts()
            oldest_queued = reader.oldest_queued_message()
            oldest_due = reader.oldest_due_timer(now)
            head = reader.audit_head_seq()
            heartbeats = reader.heartbeats()

        states = GaugeMetricFamily("beslut_recommendations", "Recommendations by state.", labels=["state"])
        for state, count in sorted(by_state.items()):
            states.add_metric([state], count)
        yield states
        yield _gauge(
            "beslut_overdue_parties", "Parties past their reply deadline on recommendations still open.", overdue
        )
        messages = GaugeMetricFamily("beslut_outbox_messages", "Outbox messages by status.", labels=["status"])
        for status in sorted({*OUTBOX_STATUSES, *outbox}):
            messages.add_metric([status], outbox.get(status, 0))
        yield messages
        yield _gauge(
            "beslut_outbox_oldest_queued_age_seconds",
            "Age of the oldest message queued and never tried; 0 when none is queued.",
            _age(now, oldest_queued),
        )
        yield _gauge(
            "beslut_timers_oldest_due_age_seconds",
            "How long the oldest due timer has waited for a tick to fire it; 0 when none is due.",
            _age(now, oldest_due),
        )
        yield _gauge("beslut_audit_head_seq", "The seq of the last event in the audit log.", head)

        running = [beat for beat in heartbeats if beat.stopped_at is None]
        age = GaugeMetricFamily(
            "beslut_scheduler_heartbeat_age_seconds",
            "Seconds since a running scheduler daemon last wrote its heartbeat (after each tick).",
            labels=["daemon"],
        )
        duration = GaugeMetricFamily(
            "beslut_scheduler_tick_duration_seconds",
            "How long a running daemon's last tick took (firing timers and delivering the outbox).",
            labels=["daemon"],
        )
        lag = GaugeMetricFamily(
            "beslut_scheduler_tick_lag_seconds",
            "How late a running daemon's last tick started against its schedule.",
            labels=["daemon"],
        )
        for beat in running:
            age.add_metric([beat.daemon_id], _age(now, beat.last_tick_at or beat.started_at))
            if beat.last_tick_seconds is not None:
                duration.add_metric([beat.daemon_id], beat.last_tick_seconds)
            if beat.last_tick_lag_seconds is not None:
                lag.add_metric([beat.daemon_id], beat.last_tick_lag_seconds)
        yield age
        yield duration
        yield lag
        yield _gauge("beslut_scheduler_daemons_running", "Scheduler daemons not stopped (by heartbeat).", len(running))


class _Unavailable(BeslutError):
    """The store says it cannot serve (see :meth:`~beslut.workflow.ports.Store.readiness_problem`)."""


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(now: datetime, then: datetime | None) -> float:
    """Seconds from *then* to *now*, never negative (a clock a little behind a writer's), 0 for None."""
    if then is None:
        return 0.0
    return max((now - then).total_seconds(), 0.0)


_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class RequestTimer:
    """ASGI middleware: time every HTTP request into ``beslut_http_request_duration_seconds``.

    A plain ASGI callable rather than Starlette's ``BaseHTTPMiddleware``, which adds a
    task and a stream per request. The route label is the matched route's *template*
    (``/recommendations/{key}``), read from the scope after routing, never the raw path,
    so the label stays bounded whatever clients send; likewise the method label
    (:meth:`ApiMetrics.observe_request`).
    """

    def __init__(self, app: _ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """Pass the request on and record how long it took."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note_status(message: _Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(
                method=str(scope.get("method", "")),
                route=template,
                status=status,
                seconds=time.perf_counter() - started,
            )


def install_metrics(app: FastAPI, store: Store, *, clock: Clock | None = None) -> ApiMetrics:
    """Give *app* its metrics: ``app.state.metrics``, the request timer, and ``/metrics``, ``/healthz``, ``/readyz``.

    Call it once from the app factory, before the app starts.
    """
    metrics = ApiMetrics(store, clock=clock)
    app.state.metrics = metrics
    app.add_middleware(RequestTimer, metrics=metrics)
    app.include_router(operator_router)
    return metrics


__all__ = [
    "COMMAND_RESULTS",
    "KNOWN_METHODS",
    "OTHER_METHOD",
    "REFUSAL_RESULTS",
    "ApiMetrics",
    "RequestTimer",
    "StoreCollector",
    "install_metrics",
]
