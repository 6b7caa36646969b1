"""`beslut scheduler run`: the long-lived service that fires timers and delivers the outbox.

APScheduler 3.x is used only as an in-memory ticker; the timers and messages live in
our own tables (see docs/scheduler.md for why). Jobs:

- ``tick`` every ``tick_seconds``: fire due timers (leased, so several daemons can
  share one database), then deliver due outbox messages, then write the heartbeat;
- ``digest`` on a cron schedule (default weekdays 07:00 Europe/Stockholm);
- ``checkpoint`` (only with ``[scheduler.checkpoint]``) on its cron or interval: sign
  the audit log's head into a file (:mod:`beslut.scheduler.checkpoints`). It runs in its
  own thread, so a long verification never delays a tick, and it reads only.

Each job has ``max_instances=1`` and ``coalesce=True``, and an explicit
``misfire_grace_time``: APScheduler's default of one second silently drops a run that
starts late (a busy machine, a long tick), which would skip a digest.

SIGTERM or SIGINT sets a stop flag that the running job checks between timers and
messages; the scheduler is shut down waiting for that job, so the daemon stops within
a few seconds, with each timer either fired and committed or left for the next start.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from beslut.clock import STOCKHOLM, later
from beslut.persistence.retry import Backoff
from beslut.scheduler.checkpoints import CheckpointJob, CheckpointSettings
from beslut.scheduler.outbox import OutboxDelivery
from beslut.states.records import Heartbeat
from beslut.workflow import Engine

log = structlog.get_logger("beslut.scheduler")


@dataclass(frozen=True, kw_only=True)
class DaemonSettings:
    """How often to tick, when to send digests, how late a run may start."""

    tick_seconds: float = 30.0
    digest_cron: str | None = "0 7 * * mon-fri"
    misfire_grace_seconds: int = 300
    daemon_id: str = ""
    lease_seconds: float = 300.0  # how long a claimed timer or message stays ours if we die holding it
    checkpoint: CheckpointSettings | None = None  # sign the audit log's head on a schedule

    def resolved_id(self) -> str:
        """The daemon's id: the configured one, or host:pid."""
        return self.daemon_id or f"{socket.gethostname()}:{os.getpid()}"


class SchedulerDaemon:
    """Runs the jobs until told to stop."""

    def __init__(self, engine: Engine, delivery: OutboxDelivery, settings: DaemonSettings) -> None:
        self.engine = engine
        self.delivery = delivery
        self.settings = settings
        self.daemon_id = delivery.worker
        self._stop = threading.Event()
        self._started = engine.clock.now()
        self._lock = threading.Lock()
        self._backoff = Backoff()  # spaces out ticks while the database is unreachable
        self._last_job_start: float | None = None  # monotonic; for the tick lag the heartbeat records
        self.checkpoints = (
            CheckpointJob(engine.store, settings.checkpoint, clock=engine.clock, daemon_id=self.daemon_id)
            if settings.checkpoint is not None
            else None
        )

    def stop(self, *_args: Any) -> None:
        """Ask the daemon to stop (signal handlers call this)."""
        self._stop.set()

    def run_once(self) -> tuple[int, int, int, int]:
        """One tick and one delivery pass, then return (timers handled, sent, failed, skipped as no longer due).

        Its heartbeat records ``stopped_at`` too: a run from cron has ended when this returns, and
        ``scheduler status`` must not show it as a daemon still running.
        """
        return self._tick(last=True)

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        scheduler = BackgroundScheduler(
            timezone=STOCKHOLM,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace_seconds,
            },
        )
        scheduler.add_job(
            self._tick_job,
            IntervalTrigger(seconds=self.settings.tick_seconds, timezone=STOCKHOLM),
            id="tick",
            next_run_time=datetime.now(STOCKHOLM),
        )
        if self.settings.digest_cron:
            scheduler.add_job(
                self._digest_job, CronTrigger.from_crontab(self.settings.digest_cron, timezone=STOCKHOLM), id="digest"
            )
        if self.checkpoints is not None:
            scheduler.add_job(
                self._checkpoint_job,
                self.checkpoints.settings.trigger(),
                id="checkpoint",
                next_run_time=datetime.now(STOCKHOLM),  # a first checkpoint (a full verification) at start
            )
        log.info(
            "started",
            daemon_id=self.daemon_id,
            tick_seconds=self.settings.tick_seconds,
            db=_safe_url(self),
            checkpoints=str(self.checkpoints.settings.out) if self.checkpoints is not None else None,
        )
        self._beat(handled=0, delivered=0)
        scheduler.start()
        try:
            while not self._stop.wait(0.2):
                pass
        finally:
            log.info("stopping", daemon_id=self.daemon_id)
            scheduler.shutdown(wait=True)
            try:
                self.engine.release_claims(self.daemon_id)
            except Exception:
                log.exception("release_failed", daemon_id=self.daemon_id)
            self._beat(handled=0, delivered=0, stopped=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("stopped", daemon_id=self.daemon_id)
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal", signal=signal.Signals(signum).name)
        self._stop.set()

    def _tick_job(self) -> None:
        # Lag: how much later than one interval after the previous tick this one started (elapsed time).
        started = time.monotonic()
        previous, self._last_job_start = self._last_job_start, started
        lag = None if previous is None else max(0.0, started - previous - self.settings.tick_seconds)
        if not self._backoff.ready(started):
            return  # the database failed lately: wait out the backoff instead of failing every tick
        try:
            self._tick(lag=lag)
        except Exception:  # a database that is down must not kill the daemon; retry after a backoff
            retry_in = self._backoff.failed(time.monotonic())
            log.exception("tick_failed", daemon_id=self.daemon_id, failures=self._backoff.failures, retry_in=retry_in)
        else:
            failures = self._backoff.succeeded()
            if failures:
                log.info("tick_recovered", daemon_id=self.daemon_id, failures=failures)

    def _tick(self, *, lag: float | None = None, last: bool = False) -> tuple[int, int, int, int]:
        with self._lock:
            started = time.monotonic()
            now = self.engine.clock.now()
            fired = self.engine.tick(
                now,
                worker=self.daemon_id,
                should_stop=self._stop.is_set,
                lease=timedelta(seconds=self.settings.lease_seconds),
            )
            report = self.delivery.deliver_due(should_stop=self._stop.is_set)
            self._beat(
                handled=len(fired), delivered=report.sent, seconds=time.monotonic() - started, lag=lag, stopped=last
            )
            if fired or report.sent or report.failed or report.skipped:
                log.info(
                    "tick",
                    daemon_id=self.daemon_id,
                    at=now.isoformat(),
                    timers=len(fired),
                    transitions=sum(len(f.records) for f in fired),
                    queued=sum(f.messages for f in fired),
                    skipped=sum(f.skipped for f in fired),
                    sent=report.sent,
                    failed=report.failed,
                    not_due=report.skipped,  # closed unsent at delivery ("skipped" above is the coalesced ladder)
                )
            return len(fired), report.sent, report.failed, report.skipped

    def _checkpoint_job(self) -> None:
        if self.checkpoints is not None:  # the job logs every outcome and never raises
            self.checkpoints.run(should_stop=self._stop.is_set)

    def _digest_job(self) -> None:
        try:
            queued = self.engine.queue_digests(self._scheduled_digest_time())
            log.info("digest", daemon_id=self.daemon_id, queued=queued)
        except Exception:
            log.exception("digest_failed", daemon_id=self.daemon_id)

    def _scheduled_digest_time(self) -> datetime:
        """The cron's fire time this run belongs to, not the moment it started.

        Two daemons (or one starting late, within the misfire grace) then key the
        digest by the same minute, and the outbox's unique key keeps it to one.
        """
        now = self.engine.clock.now()
        if not self.settings.digest_cron:
            return now
        trigger = CronTrigger.from_crontab(self.settings.digest_cron, timezone=STOCKHOLM)
        earliest = later(now, -timedelta(seconds=self.settings.misfire_grace_seconds))
        scheduled = trigger.get_next_fire_time(None, earliest)
        return scheduled if scheduled is not None and scheduled <= now else now

    def _beat(
        self,
        *,
        handled: int,
        delivered: int,
        stopped: bool = False,
        seconds: float | None = None,
        lag: float | None = None,
    ) -> None:
        now = self.engine.clock.now()
        try:
            self.engine.beat(
                Heartbeat(
                    daemon_id=self.daemon_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=self._started,
                    last_tick_at=now,
                    last_tick_handled=handled,
                    last_delivered=delivered,
                    stopped_at=now if stopped else None,
                    last_tick_seconds=seconds,
                    last_tick_lag_seconds=lag,
                )
            )
        except Exception:
            log.exception("heartbeat_failed", daemon_id=self.daemon_id)


def _safe_url(daemon: SchedulerDaemon) -> str:
    url = daemon.engine.store.url
    return url.split("@")[-1] if "@" in url else url
