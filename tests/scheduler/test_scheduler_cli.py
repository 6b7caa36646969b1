"""The scheduler's commands as a user runs them: contact, outbox, deadlines (with the iCalendar export),
scheduler run --once and scheduler status, and the refusals of each (one error line, the database unchanged).

The starting points are made through the Python API with a FixedClock; the behaviour under test goes
through the CLI in-process (tests/cli/helpers.py). Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
import time_machine
import typer.main
from icalendar import Calendar

from beslut.clock import STOCKHOLM, FixedClock
from beslut.states.records import Contact
from beslut.workflow import Engine
from tests.cli.helpers import KEY, PARTIES, SPEC_2022, ok, refused

OUTBOX_KEYS = {"recommendation", "party", "kind", "due_at", "status", "sent_at"}
_commands: dict[int, Any] = {}
_real_get_command = typer.main.get_command


def _get_command_once(app: typer.Typer) -> Any:
    """Build the Click command tree once per app, as one real process would."""
    if id(app) not in _commands:
        _commands[id(app)] = (app, _real_get_command(app))
    return _commands[id(app)][1]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No database or actor from the environment, a scratch directory, and logging as it was afterwards."""
    monkeypatch.delenv("BESLUT_DB", raising=False)
    monkeypatch.delenv("BESLUT_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(typer.main, "get_command", _get_command_once)
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**structlog_config)  # `scheduler run` configures JSON logging to the captured stdout
    for handler in list(root.handlers):  # and logging.basicConfig, when pytest's own handlers are not there
        if type(handler) is logging.StreamHandler and handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """An instant in Europe/Stockholm local time."""
    return datetime(year, month, day, hour, tzinfo=STOCKHOLM)


def setup(
    store_url: str,
    *,
    at: datetime,
    tick: datetime | None = None,
    digest: datetime | None = None,
    decide_all: bool = False,
) -> str:
    """The 2022 case recommended with a contact for Östersund, ticked at *tick*, the clock standing at *at*.

    With *digest*, the coordinator gets a contact too and its digest is queued for that instant.
    """
    with Engine.open(store_url, clock=FixedClock(at), actor="setup") as api:
        api.init()
        api.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
        api.recommend(KEY, on=date(2022, 6, 3))
        api.add_contact(Contact(id="c-2380", party="2380", name="Åsa Öberg", email="asa@ostersund.example"))
        if tick is not None:
            api.tick(tick)
        if digest is not None:
            api.add_contact(Contact(id="c-region", party="region-jh", name="Registrator", email="rs@region.example"))
            api.queue_digests(digest)
        if decide_all:
            for party in PARTIES:
                api.decide(KEY, party, outcome="approved", paragraph="§ 1", on=at.date())
    return store_url


@pytest.fixture
def db(store_url: str) -> str:
    """An initialised, empty database."""
    with Engine.open(store_url, actor="setup") as api:
        api.init()
    return store_url


@pytest.fixture
def late(store_url: str) -> str:
    """The daemon first ran on 26 September: the 14-day reminders skipped, the 7-day ones queued."""
    return setup(store_url, at=local(2022, 9, 26, 9), tick=local(2022, 9, 26, 8))


class TestContact:
    def test_add_list_and_replace(self, db: str) -> None:
        """Contacts are listed by party, then id; adding an id again replaces it; a bad address is refused."""
        ok("propose", str(SPEC_2022), "--on", "2022-06-03", db=db)  # a contact's party must be named by one
        saved = ok(
            "contact", "add", "2380", "--id", "c-2380", "--name", "Åsa Öberg", "--email", "asa@ostersund.example", db=db
        )
        assert "contact c-2380 of 2380 saved" == saved.stdout.strip()
        ok("contact", "add", "2309", "--id", "c-2309-old", "--inactive", db=db)
        ok("contact", "add", "2309", "--id", "c-2309", "--email", "kommun@krokom.example", db=db)
        assert [
            {"id": "c-2309", "party": "2309", "name": None, "email": "kommun@krokom.example", "active": True},
            {"id": "c-2309-old", "party": "2309", "name": None, "email": None, "active": False},
            {"id": "c-2380", "party": "2380", "name": "Åsa Öberg", "email": "asa@ostersund.example", "active": True},
        ] == ok("contact", "list", "--json", db=db).json()
        ok("contact", "add", "2309", "--id", "c-2309", "--email", "socialtjansten@krokom.example", db=db)
        assert ["socialtjansten@krokom.example", None, "asa@ostersund.example"] == [
            c["email"] for c in ok("contact", "list", "--json", db=db).json()
        ]
        result = refused("contact", "add", "2380", "--id", "c-2380", "--email", "asa.ostersund.example", db=db)
        assert "--email" in result.stderr


class TestOutbox:
    def test_json_rows_keep_the_contract_and_filter_by_status(self, late: str) -> None:
        """`outbox --json` lists each message with its keys by due instant; --status filters; a bad one is refused."""
        rows = ok("outbox", "--json", db=late).json()
        assert 18 == len(rows)
        assert all(OUTBOX_KEYS <= set(row) for row in rows)
        first = {k: v for k, v in rows[0].items() if k in {*OUTBOX_KEYS, "contact"}}
        assert {
            "recommendation": KEY,
            "party": "2380",
            "kind": "before",
            "due_at": "2022-09-16T00:00:00+02:00",
            "status": "skipped",
            "sent_at": None,
            "contact": "c-2380",
        } == first
        assert [None] * 8 == [
            r["contact"] for r in rows if r["due_at"].startswith("2022-09-16") and r["party"] != "2380"
        ]

        for status, due in (("skipped", "2022-09-16T00:00:00+02:00"), ("queued", "2022-09-23T00:00:00+02:00")):
            chosen = ok("outbox", "--status", status, "--json", db=late).json()
            assert ({status}, {due}, 9) == ({r["status"] for r in chosen}, {r["due_at"] for r in chosen}, len(chosen))
        assert [] == ok("outbox", "--status", "sent", "--json", db=late).json()
        result = refused("outbox", "--status", "bogus", "--json", db=late)
        assert "--status" in result.stderr
        assert "bogus" in result.stderr


class TestDeadlines:
    def test_json_and_ics_list_the_pending_timers(self, late: str, tmp_path: Path) -> None:
        """`deadlines --json` lists pending timers soonest first; --ics writes one event each, in Europe/Stockholm."""
        assert 27 == len(ok("deadlines", KEY, "--json", db=late).json())
        path = tmp_path / "deadlines.ics"
        rows = ok("deadlines", "--ics", str(path), "--json", db=late).json()
        assert {"id", "recommendation", "party", "kind", "due_at", "status"} == set(rows[0])
        assert {"pending"} == {r["status"] for r in rows}
        assert [r["due_at"] for r in rows] == sorted(r["due_at"] for r in rows)
        assert [
            ("reply_by", "2022-10-01T00:00:00+02:00"),
            ("remind_overdue", "2022-10-01T00:00:00+02:00"),
            ("escalate", "2022-10-15T00:00:00+02:00"),
        ] == [(r["kind"], r["due_at"]) for r in rows if r["party"] == "2380"]

        events = Calendar.from_ical(path.read_bytes()).walk("VEVENT")
        assert 27 == len(rows) == len(events) == len({str(e["UID"]) for e in events})
        assert {"Europe/Stockholm"} == {str(e["DTSTART"].params["TZID"]) for e in events}
        starts = sorted((e.decoded("DTSTART"), str(e["SUMMARY"])) for e in events)
        assert sorted(datetime.fromisoformat(r["due_at"]) for r in rows) == [start for start, _ in starts]
        escalations = [summary for start, summary in starts if start == local(2022, 10, 15)]
        assert 9 == len(escalations)
        assert any("Östersunds kommun" in summary and KEY in summary for summary in escalations)

    def test_ics_passes_icalendars_own_checks(self, late: str, tmp_path: Path) -> None:
        """Every file --ics writes validates: a VTIMEZONE for the TZID (RFC 5545 3.2.19), DTSTAMP = when made.

        The files of one recommendation, of all, and of a calendar with no pending deadline are each
        parsed back; icalendar finds no missing TZID, `validate()` passes, each event's instant is the
        one `deadlines --json` lists, and DTSTAMP is the (travelled) clock's instant in UTC.
        """
        made = local(2022, 9, 27, 14)
        with time_machine.travel(made, tick=False):
            ok("deadlines", KEY, "--ics", str(tmp_path / "one.ics"), db=late)
            ok("deadlines", "--ics", str(tmp_path / "all.ics"), db=late)
        empty = tmp_path / "empty.db"
        with Engine.open(str(empty), actor="setup") as api:
            api.init()
        with time_machine.travel(made, tick=False):
            ok("deadlines", "--ics", str(tmp_path / "empty.ics"), db=str(empty))

        for name, db in (("one", late), ("all", late), ("empty", str(empty))):
            text = (tmp_path / f"{name}.ics").read_text(encoding="utf-8")
            calendar = Calendar.from_ical(text)
            calendar.validate()  # type: ignore[no-untyped-call]
            assert set() == calendar.get_missing_tzids()
            assert ["Europe/Stockholm"] == [tz.tz_name for tz in calendar.timezones]
            args = ("deadlines", KEY, "--json") if name == "one" else ("deadlines", "--json")
            rows = ok(*args, db=db).json()
            events = calendar.events
            assert len(rows) == len(events)
            assert sorted(datetime.fromisoformat(r["due_at"]) for r in rows) == sorted(e.start for e in events)
            assert {made.astimezone(UTC)} >= {e.DTSTAMP for e in events}
            stamps = [line for line in text.splitlines() if line.startswith("DTSTAMP")]
            assert len(events) == len(stamps)
            assert all(line.endswith("Z") for line in stamps)
        assert 0 == len(Calendar.from_ical((tmp_path / "empty.ics").read_bytes()).events)

    def test_unknown_key_and_missing_directory_are_refused(self, late: str, tmp_path: Path) -> None:
        """An unknown recommendation, or --ics into a directory that does not exist, is refused; no file appears."""
        result = refused("deadlines", "no-such-recommendation", "--json", db=late)
        assert "no-such-recommendation" in result.stderr
        target = tmp_path / "missing" / "deadlines.ics"
        result = refused("deadlines", "--ics", str(target), db=late)
        assert "--ics" in result.stderr
        assert not target.parent.exists()


class TestSchedulerRun:
    def test_run_once_delivers_with_the_log_notifier_and_beats(self, store_url: str) -> None:
        """`scheduler run --once` sends what is still due as JSON log lines, skips what is not, and beats.

        The 14-day reminders were queued on 2022-09-16 (one to Östersund's contact, eight to no contact)
        and the coordinator's digest on the 19th; then every party decided. At delivery the reminders are
        no longer due: skipped with the reason, none sent (not even the ones to no contact). The digest,
        a snapshot of its morning, goes to the coordinator's contact.
        """
        db = setup(
            store_url, at=local(2022, 9, 20, 9), tick=local(2022, 9, 16), digest=local(2022, 9, 19, 7), decide_all=True
        )
        assert [] == ok("deadlines", "--json", db=db).json()  # nothing else falls due when the real clock ticks
        assert {"queued"} == {r["status"] for r in ok("outbox", "--json", db=db).json()}
        assert {"daemons": []} == ok("scheduler", "status", "--json", db=db).json()

        result = ok("scheduler", "run", "--once", db=db)
        *log_lines, summary = result.stdout.strip().splitlines()
        assert "0 timer(s) handled, 1 message(s) sent, 0 failed, 9 no longer due" == summary
        events = [json.loads(line) for line in log_lines]
        reminders = [e for e in events if e["event"] == "reminder"]
        assert [("log", "digest", "c-region")] == [(e["notifier"], e["kind"], e["contact_id"]) for e in reminders]
        skipped = [e for e in events if e["event"] == "delivery_skipped"]
        assert 9 == len(skipped)
        assert {"no longer due: the party has decided (decided)"} == {e["reason"] for e in skipped}
        assert "@" not in result.stdout

        rows = ok("outbox", "--json", db=db).json()
        assert {("digest", "sent", None)} == {(r["kind"], r["status"], r["last_error"]) for r in rows if r["sent_at"]}
        before = [r for r in rows if r["kind"] == "before"]
        assert {("skipped", None, None, 0, "no longer due: the party has decided (decided)")} == {
            (r["status"], r["sent_at"], r["next_attempt_at"], r["attempts"], r["last_error"]) for r in before
        }
        assert 9 == len(before)
        (daemon,) = ok("scheduler", "status", "--json", db=db).json()["daemons"]
        assert (0, 1) == (daemon["last_tick_handled"], daemon["last_delivered"])
        assert daemon["last_tick_at"] is not None
        assert daemon["last_tick_at"] == daemon["stopped_at"]  # a run from cron has ended: it is not shown running
        assert datetime.fromisoformat(daemon["started_at"]) <= datetime.fromisoformat(daemon["last_tick_at"])

    def test_a_bad_config_is_refused_naming_the_field(self, db: str, tmp_path: Path) -> None:
        """A config file (or --tick) with a bad table, key or value is refused with one line naming it."""
        configs = {
            "[bogus]\nx = 1\n": "'bogus'",
            "[scheduler]\ntick = 5\n": "'scheduler.tick'",
            "[scheduler]\ntick_seconds = 0\n": "'scheduler.tick_seconds'",
            '[scheduler]\ntick_seconds = "30"\n': "'scheduler.tick_seconds'",
            '[scheduler]\ndigest_cron = "every weekday"\n': "'scheduler.digest_cron'",
            '[scheduler]\ndigest_cron = "0 25 * * mon-fri"\n': "'scheduler.digest_cron'",
            "[scheduler]\nmisfire_grace_seconds = 0.5\n": "'scheduler.misfire_grace_seconds'",
            "[scheduler]\nlease_seconds = 0\n": "'scheduler.lease_seconds'",
            '[notifier]\nkind = "pigeon"\n': "'notifier.kind'",
            "[scheduler\n": "not valid TOML",
        }
        path = tmp_path / "scheduler.toml"
        for config, named in configs.items():
            path.write_text(config, encoding="utf-8")
            result = refused("scheduler", "run", "--once", "--config", str(path), db=db)
            assert named in result.stderr, config
        result = refused("scheduler", "run", "--once", "--tick", "0", db=db)
        assert "'scheduler.tick_seconds'" in result.stderr
        result = refused("scheduler", "run", "--once", "--config", str(tmp_path / "nope.toml"), db=db)
        assert "nope.toml" in result.stderr
