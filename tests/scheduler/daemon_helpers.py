"""Real `beslut scheduler run` processes for tests/scheduler/test_daemons.py.

- :func:`build_workload`: many recommendations of the 2022 Mini-Maria spec (unique keys), proposed
  and recommended in-process on a :class:`FixedClock` at 2022-06-03, with one contact (an e-mail
  address) per party: every reply date is in 2022, so with the real clock all their timers are due.
- :class:`DeliveryCounter`: a webhook receiver (ThreadingHTTPServer on 127.0.0.1) that checks each
  request's HMAC signature and counts deliveries per ``X-Beslut-Delivery`` key; it can hold the
  request after the n-th one unanswered, so a daemon can be killed in the middle of a delivery.
- :class:`Daemon`: one ``.venv/bin/beslut scheduler run`` subprocess with its stdout and stderr
  in files (never pipes, which a chatty daemon could fill), stopped by a signal or killed.
- :func:`daemons`: a context manager that kills every daemon it started in its ``finally``.

Every wait is bounded (:func:`wait_until`), and no process or thread outlives the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, func, select

from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import _tables as tables
from beslut.persistence import open_store
from beslut.persistence._sql import SqlStore
from beslut.scheduler.notifiers import verify_signature
from beslut.states.records import Contact
from beslut.workflow import Engine

REPO = Path(__file__).resolve().parents[2]
SPEC_2022 = REPO / "examples" / "mini-maria-2022.toml"
SCRIPT = Path(sys.executable).parent / "beslut"
HOST = "127.0.0.1"
SECRET_ENV = "BESLUT_TEST_WEBHOOK_SECRET"
SECRET = "daemon-test-secret"
COORDINATOR = "region-jh"
PARTIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303", COORDINATOR]
RECOMMENDED_ON = date(2022, 6, 3)
# An overdue reminder every 13 weeks instead of every week: the series' catch-up after four years
# records some 17 skipped occurrences per party, not two hundred (the tests stay small).
OVERDUE_EVERY = "P13W"
STOP_WITHIN = 10.0  # seconds: the bound on a daemon's exit after SIGTERM/SIGINT (it should take < 2 s)
_KEY_LINE = re.compile(r'^key = "[^"]*"', re.MULTILINE)
_OVERDUE_LINE = re.compile(r'^overdue_every = "[^"]*"', re.MULTILINE)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def wait_quiet(what: str, count: Callable[[], int], *, quiet_for: float = 1.0, timeout: float = 15.0) -> None:
    """Wait until *count* has not changed for *quiet_for* seconds (at most *timeout* seconds)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet_for:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
        current = count()
        if current != last:
            last, since = current, time.monotonic()


def wait_until(what: str, predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> None:
    """Poll *predicate* until it is true; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- the data


def spec_text(key: str) -> str:
    """The 2022 example spec with its key (the first ``key =`` line) replaced and a sparser overdue series."""
    template = SPEC_2022.read_text(encoding="utf-8")
    spec, keys = _KEY_LINE.subn(f'key = "{key}"', template, count=1)
    spec, overdue = _OVERDUE_LINE.subn(f'overdue_every = "{OVERDUE_EVERY}"', spec, count=1)
    assert (keys, overdue) == (1, 1), "examples/mini-maria-2022.toml changed shape"
    return spec


def contact_of(party: str) -> Contact:
    """The one contact of *party*: a clerk with a name and an e-mail address (personal data)."""
    return Contact(id=f"c-{party}", party=party, name="Åsa Öberg", email=f"asa.oberg.{party}@kommun.example.se")


@dataclass(frozen=True)
class Workload:
    """What :func:`build_workload` made, and what firing it all must give."""

    keys: tuple[str, ...]
    emails: tuple[str, ...]

    @property
    def timers(self) -> int:
        """Due timers: per party reply_by, two before reminders, the overdue series and the escalation."""
        return len(self.keys) * len(PARTIES) * 5

    @property
    def queued(self) -> int:
        """Messages to send: per party the newest overdue reminder (the ladder coalesced) and one escalation."""
        return len(self.keys) * len(PARTIES) * 2


def build_workload(url: str, recommendations: int, *, prefix: str = "load") -> Workload:
    """Initialise the database at *url* and fill it (see the module docstring)."""
    clock = FixedClock(datetime(2022, 6, 3, 12, 0, tzinfo=STOCKHOLM))
    keys = tuple(f"{prefix}-{i:04d}" for i in range(recommendations))
    with Engine(open_store(url), clock=clock, actor="test") as engine:
        engine.init()
        for number, key in enumerate(keys):
            engine.propose(spec_text(key), on=RECOMMENDED_ON)
            if number == 0:  # after the first proposal: a contact's party must be named by a recommendation
                for party in PARTIES:
                    engine.add_contact(contact_of(party))
            engine.recommend(key, on=RECOMMENDED_ON)
    return Workload(keys=keys, emails=tuple(contact_of(p).email or "" for p in PARTIES))


class Progress:
    """Cheap counts read while the daemons run, on a read-only store (it never takes SQLite's write lock)."""

    def __init__(self, url: str) -> None:
        store = open_store(url, read_only=True)
        assert isinstance(store, SqlStore)
        self.store = store

    def close(self) -> None:
        self.store.close()

    def _count(self, query: Select[int]) -> int:
        with self.store.engine.connect() as connection:
            value = connection.execute(query).scalar_one()
            connection.rollback()
        return int(value)

    def due_timers(self) -> int:
        """Pending timers already due."""
        deadline = tables.DEADLINE
        now = datetime.now(STOCKHOLM)
        return self._count(select(func.count()).where(and_(deadline.c.status == "pending", deadline.c.due_at <= now)))

    def leased_timers(self, worker: str) -> int:
        """Pending timers *worker* holds a lease on that has not run out."""
        deadline = tables.DEADLINE
        now = datetime.now(STOCKHOLM)
        return self._count(
            select(func.count()).where(
                and_(deadline.c.status == "pending", deadline.c.claimed_by == worker, deadline.c.claimed_until > now)
            )
        )

    def leased_messages(self, worker: str, *, expired_too: bool = False) -> int:
        """Unsent messages *worker* holds a lease on that has not run out (or has, with *expired_too*)."""
        outbox = tables.OUTBOX
        now = datetime.now(STOCKHOLM)
        held = and_(outbox.c.status != "sent", outbox.c.claimed_by == worker)
        if not expired_too:
            held = and_(held, outbox.c.claimed_until > now)
        return self._count(select(func.count()).where(held))

    def outbox(self, status: str) -> int:
        """Outbox rows with *status*."""
        return self._count(select(func.count()).where(tables.OUTBOX.c.status == status))

    def settled(self) -> bool:
        """No timer due and nothing left to deliver (queued, or failed and waiting for a retry)."""
        return self.due_timers() == 0 and self.outbox("queued") == 0 and self.outbox("failed") == 0


# -- the webhook receiver


class DeliveryCounter:
    """Counts signed webhook deliveries per ``X-Beslut-Delivery`` key; optionally holds one request.

    With ``hold_after = n`` the (n+1)-th request is recorded (counted as delivered: the receiver
    has it) and then left unanswered until :meth:`release`, so the daemon sending it is stuck
    between delivering and marking the message sent: the at-least-once window.
    """

    def __init__(self, *, hold_after: int | None = None) -> None:
        self.hold_after = hold_after
        self.held = threading.Event()
        self.held_key: str | None = None
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.bad_signatures = 0
        self.emails_in_bodies = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hooks/beslut?token=very-secret-token"

    def snapshot(self) -> Counter[str]:
        """A copy of the per-key counts."""
        with self._lock:
            return Counter(self.counts)

    def release(self) -> None:
        """Answer the held request (and never hold another)."""
        self._release.set()

    def _record(self, key: str, body: bytes, signed: bool) -> bool:
        with self._lock:
            if not signed:
                self.bad_signatures += 1
                return False
            if EMAIL.search(body.decode("utf-8", "replace")):
                self.emails_in_bodies += 1
            self.counts[key] += 1
            self.total += 1
            hold = self.hold_after is not None and self.total == self.hold_after + 1 and not self._release.is_set()
            if hold:
                self.held_key = key
        if hold:
            self.held.set()
        return hold

    def handler(self) -> type[BaseHTTPRequestHandler]:
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signed = verify_signature(
                    SECRET,
                    self.headers.get("X-Beslut-Timestamp", ""),
                    body,
                    self.headers.get("X-Beslut-Signature", ""),
                )
                key = self.headers.get("X-Beslut-Delivery", "")
                if counter._record(key, body, signed):
                    counter._release.wait(STOP_WITHIN * 3)
                with contextlib.suppress(OSError):  # the sender may have been killed meanwhile
                    self.send_response(204 if signed else 401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@contextlib.contextmanager
def webhook_receiver(counter: DeliveryCounter) -> Iterator[DeliveryCounter]:
    """Serve *counter* on a free port of 127.0.0.1 in a thread; shut down and joined on exit."""
    server = ThreadingHTTPServer((HOST, 0), counter.handler())
    server.daemon_threads = True
    counter.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield counter
    finally:
        counter.release()
        server.shutdown()
        server.server_close()
        thread.join(5.0)
        assert not thread.is_alive(), "webhook receiver thread did not stop"


# -- the daemons


LOG_NOTIFIER = 'kind = "log"'


def webhook_notifier(url: str) -> str:
    """The ``[notifier]`` table for the webhook notifier posting to *url*, its secret in the environment."""
    return f'kind = "webhook"\n\n[notifier.webhook]\nurl = "{url}"\nsecret_env = "{SECRET_ENV}"\ntimeout = 30'


def smtp_notifier(port: int) -> str:
    """The ``[notifier]`` table for the SMTP notifier on 127.0.0.1:*port*, in clear text."""
    return (
        f'kind = "smtp"\n\n[notifier.smtp]\nhost = "{HOST}"\nport = {port}\n'
        'sender = "beslut <noreply@region.example.se>"\ntimeout = 10'
    )


def write_config(path: Path, *, daemon_id: str, notifier: str, lease_seconds: float, tick_seconds: float) -> Path:
    """A daemon config file: short ticks and leases, no digest (nothing queued by the wall clock), *notifier*."""
    path.write_text(
        "[scheduler]\n"
        f"tick_seconds = {tick_seconds}\n"
        f"lease_seconds = {lease_seconds}\n"
        f'daemon_id = "{daemon_id}"\n'
        'digest_cron = ""\n\n'
        f"[notifier]\n{notifier}\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Daemon:
    """One `beslut scheduler run` subprocess; its output goes to ``<dir>/<name>.out`` and ``.err``."""

    name: str
    db: str
    config: Path
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def stdout_path(self) -> Path:
        return self.directory / f"{self.name}.out"

    @property
    def stderr_path(self) -> Path:
        return self.directory / f"{self.name}.err"

    def start(self) -> Daemon:
        env = {**os.environ, SECRET_ENV: SECRET, "PYTHONUNBUFFERED": "1"}
        env.pop("BESLUT_DB", None)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [str(SCRIPT), "scheduler", "run", "--config", str(self.config), "--db", self.db],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C at the terminal is the test's, not the daemon's
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def errors(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The stdout lines that are JSON objects (see :meth:`non_json_lines` for the others)."""
        found = []
        for line in self.output().splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    found.append(value)
        return found

    def non_json_lines(self) -> list[str]:
        """Stdout lines that are not one JSON object each."""
        bad = []
        for line in self.output().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if not isinstance(value, dict):
                bad.append(line)
        return bad

    def has_event(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())

    def wait_started(self, timeout: float = 20.0) -> None:
        """Until the daemon logged ``started`` (its signal handlers are installed by then)."""

        def started() -> bool:
            if not self.alive():
                raise AssertionError(f"daemon {self.name} exited early:\n{self.output()}\n{self.errors()}")
            return self.has_event("started")

        wait_until(f"daemon {self.name} to start", started, timeout=timeout)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_WITHIN) -> tuple[int, float]:
        """Send *sig* and wait for the exit; return (exit code, seconds it took). Killed if it takes too long."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"daemon {self.name} did not stop within {timeout:.0f} s of {sig.name}:\n{self.output()[-3000:]}"
            ) from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL it (if still running) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


class Daemons:
    """Starts daemons and remembers them, so the ``finally`` of :func:`daemons` can kill them all."""

    def __init__(self, directory: Path, db: str) -> None:
        self.directory = directory
        self.db = db
        self.started: list[Daemon] = []

    def start(
        self, name: str, *, notifier: str = LOG_NOTIFIER, lease_seconds: float = 2, tick_seconds: float = 0.2
    ) -> Daemon:
        """Start daemon *name* (also its daemon_id) with a config file of its own."""
        config = write_config(
            self.directory / f"{name}.toml",
            daemon_id=name,
            notifier=notifier,
            lease_seconds=lease_seconds,
            tick_seconds=tick_seconds,
        )
        daemon = Daemon(name=name, db=self.db, config=config, directory=self.directory)
        self.started.append(daemon)
        return daemon.start()

    def kill_all(self) -> None:
        for daemon in self.started:
            daemon.kill()


@contextlib.contextmanager
def daemons(directory: Path, db: str) -> Iterator[Daemons]:
    """A :class:`Daemons` whose every process is killed and reaped on exit, whatever happened."""
    group = Daemons(directory, db)
    try:
        yield group
    finally:
        group.kill_all()
        leaked = [d.name for d in group.started if d.alive()]
        assert not leaked, f"daemons still running: {leaked}"
