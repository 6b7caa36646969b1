"""`audit replay`: every recommendation rebuilt from the log alone, as of either time, and checked against the tables."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from beslut.clock import STOCKHOLM, FixedClock
from beslut.workflow import Engine
from tests.audit.conftest import at
from tests.cli.helpers import KEY, PARTIES, SPEC_2022, ok, refused, run, tamper_audit

Scenario = tuple[str, Engine, FixedClock]


def late_registration(scenario: Scenario) -> str:
    """2380 and 2309 decide on time; 2321 decided on 2022-09-05 but it is registered on 2022-10-20,
    after tick marked it (and every other silent party) overdue on 2022-10-01."""
    db, engine, clock = scenario
    engine.propose(SPEC_2022.read_text(encoding="utf-8"), on=at(clock, "2022-06-03"))
    engine.recommend(KEY, on=at(clock, "2022-06-03"))
    engine.prepare(KEY, "2380", case_number="KS 2022/301", on=at(clock, "2022-06-20"))
    engine.decide(KEY, "2380", outcome="approved", paragraph="§ 164", on=at(clock, "2022-09-05"))
    engine.decide(KEY, "2309", outcome="rejected", paragraph="§ 80", on=at(clock, "2022-09-06"))
    engine.announce(KEY, "2380", on=at(clock, "2022-09-08"))
    clock.set(datetime(2022, 10, 1, 0, 5, tzinfo=STOCKHOLM))
    engine.tick(clock.now())
    at(clock, "2022-10-20")
    engine.decide(KEY, "2321", outcome="approved", paragraph="§ 12", on=date(2022, 9, 5))
    return db


def party_of(document: dict[str, object], party: str) -> dict[str, object]:
    recommendation = document["recommendations"][0]  # type: ignore[index]
    return next(p for p in recommendation["parties"] if p["key"] == party)


def test_replay_equals_the_live_status(mini_maria: Scenario) -> None:
    """Without --as-of the replay is `status --json`'s document, and --check finds no difference."""
    db = late_registration(mini_maria)
    replayed = ok("audit", "replay", "--json", db=db).json()
    assert ok("status", "--json", db=db).json()["recommendations"] == replayed["recommendations"]
    assert (replayed["events"], replayed["as_of_recorded"], replayed["as_of_valid"]) == (
        replayed["log_events"],
        None,
        None,
    )
    assert ok("audit", "replay", "--check", db=db).stdout.startswith("ok: the live tables equal the replay of")
    assert ok("audit", "replay", "--check", "--json", db=db).json()["check"] == {"ok": True, "differences": []}


def test_recorded_and_valid_time_differ_for_a_late_registration(mini_maria: Scenario) -> None:
    """On 2022-10-10 the system showed 2321 overdue and undecided; it had in fact decided on 2022-09-05."""
    db = late_registration(mini_maria)
    shown = ok("audit", "replay", "--as-of-recorded", "2022-10-10T12:00", "--json", db=db).json()
    decided = ok("audit", "replay", "--as-of-valid", "2022-10-10", "--json", db=db).json()
    assert ("pending", None, True) == tuple(party_of(shown, "2321")[k] for k in ("state", "decided_on", "overdue"))
    assert ("decided", "2022-09-05", False) == tuple(
        party_of(decided, "2321")[k] for k in ("state", "decided_on", "overdue")
    )
    # Before the deadline passed, by either time, nobody was overdue yet; 2321 had decided by valid time only.
    early_valid = ok("audit", "replay", "--as-of-valid", "2022-09-30", "--json", db=db).json()
    assert not any(p["overdue"] for p in early_valid["recommendations"][0]["parties"])
    assert "decided" == party_of(early_valid, "2321")["state"]
    early_recorded = ok("audit", "replay", "--as-of", "2022-09-30T23:00", "--json", db=db).json()
    assert "pending" == party_of(early_recorded, "2321")["state"]
    assert 6 == early_recorded["recommendations"][0]["version"]
    # Before the proposal: nothing.
    assert [] == ok("audit", "replay", "--as-of-valid", "2022-06-02", "--json", db=db).json()["recommendations"]


def test_an_agreement_in_force_retroactively_is_held_back_until_its_consolidation(mini_maria: Scenario) -> None:
    """Consolidated on 2023-01-10 with in force from 2023-01-01: decided by 2023-01-05 it was not yet."""
    db, engine, clock = mini_maria
    engine.propose(SPEC_2022.read_text(encoding="utf-8"), on=at(clock, "2022-06-03"))
    engine.recommend(KEY, on=at(clock, "2022-06-03"))
    for party in PARTIES:
        engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=at(clock, "2022-09-05"))
    engine.consolidate(KEY, on=at(clock, "2023-01-10"))
    before = ok("audit", "replay", "--as-of-valid", "2023-01-05", "--json", db=db).json()
    assert "recommended" == before["recommendations"][0]["state"]
    [held] = before["held_back"]
    assert ("recommendation.in_force", "2023-01-01") == (held["kind"], held["valid_on"])
    assert "is not a legal transition" in held["reason"]
    after = ok("audit", "replay", "--as-of-valid", "2023-01-10", "--json", db=db).json()
    assert ("in_force", "2023-01-01", []) == (
        after["recommendations"][0]["state"],
        after["recommendations"][0]["in_force_since"],
        after["held_back"],
    )
    human = ok("audit", "replay", "--as-of-valid", "2023-01-05", db=db).stdout
    assert "held back: seq" in human


def test_check_shows_every_difference_and_exits_4(mini_maria: Scenario) -> None:
    """A live table changed behind the log's back: each difference on its own line, then exit 4."""
    db = late_registration(mini_maria)
    url = db if "://" in db else f"sqlite:///{db}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE party_decision SET outcome = 'rejected' WHERE party_key = '2380'"))
        connection.execute(text("UPDATE recommendation SET version = 99"))
    engine.dispose()
    result = run("audit", "replay", "--check", db=db)
    assert 4 == result.code
    lines = result.stdout.splitlines()
    assert f"{KEY}: version: live 99, replayed 15" in lines
    assert f"{KEY} party 2380: outcome: live 'rejected', replayed 'approved'" in lines
    assert result.stderr.startswith("error: the live tables differ from the replayed log in 2 place(s)")
    document = run("audit", "replay", "--check", "--json", db=db)
    assert 4 == document.code
    assert {"key": KEY, "party": "2380", "field": "outcome", "live": "rejected", "replayed": "approved"} in (
        document.json()["check"]["differences"]
    )


def test_replay_refuses_a_broken_log_and_bad_options(mini_maria: Scenario) -> None:
    db = late_registration(mini_maria)
    assert (
        "give --as-of-recorded"
        in refused("audit", "replay", "--as-of", "2022-10-01", "--as-of-valid", "2022-10-01", db=db).stderr
    )
    assert "is not a date" in refused("audit", "replay", "--as-of-valid", "soon", db=db).stderr
    assert "is not a date-time" in refused("audit", "replay", "--as-of-recorded", "soon", db=db).stderr
    assert "leave out --as-of" in refused("audit", "replay", "--check", "--as-of-valid", "2022-10-01", db=db).stderr
    tamper_audit(db, seq=4)
    assert refused("audit", "replay", db=db, code=4).stderr.startswith("error: audit log broken at seq 4")


def test_the_demo_replays_and_verifies_with_its_revision(tmp_path: Path) -> None:
    """The demo's two recommendations, the 2025 revision superseding 2022: verify (with the command rules) and --check."""
    db = str(tmp_path / "demo.db")
    ok("demo", db=db)
    report = ok("audit", "verify", "--json", db=db).json()
    assert report["ok"]
    assert 2 == report["streams"]
    assert ok("audit", "replay", "--check", db=db).stdout.startswith("ok:")


@pytest.mark.parametrize("key", [KEY, "nope"])
def test_audit_log_of_one_stream(mini_maria: Scenario, key: str) -> None:
    db = late_registration(mini_maria)
    if key == "nope":
        assert "no recommendation 'nope'" in refused("audit", "log", key, db=db).stderr
        return
    assert {KEY} == {e["stream"] for e in ok("audit", "log", key, "--json", db=db).json()}
