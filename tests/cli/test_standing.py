"""A decision counts only while it stands, through the CLI on both stores.

The court annuls a counted decision after consolidation: the agreement is recounted (its own audit
event), the party is contested and pays nothing, the coordinator gets an escalation, the party
decides anew; finality as a policy; late decisions. Refusals leave the database dump unchanged.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from beslut.states.records import Contact
from tests.cli.helpers import KEY, PARTIES, SPEC_2022, approve_all, decide, engine, ok, party, refused, status

TOTAL = 5_000_000


def _announce_all(db: str, on: str) -> None:
    with engine(db) as api:
        for p in PARTIES:
            api.announce(KEY, p, on=date.fromisoformat(on))


@pytest.fixture
def in_force(recommended: str) -> str:
    """All nine approved and announced, 2380 appealed, consolidated 2022-10-17, in force (2023-01-01 has passed)."""
    approve_all(recommended, "2022-09-05")
    _announce_all(recommended, "2022-09-08")
    with engine(recommended) as api:
        api.add_contact(Contact(id="c-region-1", party="region-jh", name="Samordnare", email="s@example.org"))
        api.appeal(KEY, "2380", on=date(2022, 9, 20))
        api.consolidate(KEY, on=date(2022, 10, 17))
    ok("tick", "--now", "2023-01-01T00:00", db=recommended)
    assert "in_force" == status(recommended)["state"]
    return recommended


def _sum(document: dict[str, Any]) -> int:
    return sum(int(p["amount"]) for p in document["parties"])


def test_an_annulment_in_force_is_recounted_contested_and_escalated(in_force: str) -> None:
    ok("party", "settle", KEY, "2380", "--result", "annulled", "--on", "2023-03-01", db=in_force)
    document = status(in_force)
    assert ("in_force", "not_adopted") == (document["state"], document["outcome"])
    assert ["2380"] == document["contested"]
    assert "2023-03-01" == document["recounted_on"]
    assert [] == document["participants"]
    assert {"0"} == {p["amount"] for p in document["parties"]}
    assert "preparing" == party(in_force, "2380")["state"]
    recount = ok("audit", "log", KEY, "--json", db=in_force).json()[-1]
    assert "recommendation.recounted" == recount["kind"]
    assert "2023-03-01" == recount["valid_on"]
    payload = recount["payload"]
    assert ("not_adopted", ["2380"], "2380") == (payload["outcome"], payload["contested"], payload["changed"])
    messages = ok("outbox", "--json", db=in_force).json()
    escalations = [m for m in messages if m["kind"] == "escalation"]
    assert 1 == len(escalations), messages
    assert ("c-region-1", "2380") == (escalations[0]["contact"], escalations[0]["party"])
    with engine(in_force) as api:
        (queued,) = [m for m in api.outbox() if m.kind == "escalation"]
    assert ("recount", "not_adopted", ["2380"]) == (
        queued.details["reason"],
        queued.details["outcome"],
        queued.details["contested"],
    )
    # Decided anew: recounted, adopted again, no longer contested, the amounts sum to the total again.
    ok("party", "propose", KEY, "2380", "--body", "KSAU", "--paragraph", "§ 30", "--on", "2023-03-10", db=in_force)
    ok(*_decide_args("2023-04-03", "§ 44"), db=in_force)
    document = status(in_force)
    assert ("in_force", "adopted", []) == (document["state"], document["outcome"], document["contested"])
    assert PARTIES == document["participants"]
    assert TOTAL == _sum(document)
    ok("audit", "verify", db=in_force)
    ok("audit", "replay", "--check", db=in_force)


def _decide_args(on: str, paragraph: str) -> tuple[str, ...]:
    return ("party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", paragraph, "--on", on)


def test_replay_as_of_valid_shows_the_count_before_and_after_the_annulment(in_force: str) -> None:
    ok("party", "settle", KEY, "2380", "--result", "annulled", "--on", "2023-03-01", db=in_force)

    def replayed(day: str) -> dict[str, Any]:
        document = ok("audit", "replay", "--as-of-valid", day, "--json", db=in_force).json()
        return next(r for r in document["recommendations"] if r["key"] == KEY)

    before, after = replayed("2023-02-28"), replayed("2023-03-01")
    assert ("adopted", []) == (before["outcome"], before["contested"])
    assert ("not_adopted", ["2380"]) == (after["outcome"], after["contested"])
    assert status(in_force)["contested"] == after["contested"]


def test_an_uncontested_party_cannot_decide_after_consolidation(in_force: str) -> None:
    proposal = ("party", "propose", KEY, "2309", "--body", "KSAU", "--paragraph", "§ 1", "--on", "2023-03-01")
    assert "is 'in_force'" in refused(*proposal, db=in_force).stderr
    decision = ("party", "decide", KEY, "2309", "--outcome", "rejected", "--paragraph", "§ 1", "--on", "2023-03-01")
    assert "already decided" in refused(*decision, db=in_force).stderr


def test_a_decision_anew_before_the_annulment_is_refused(in_force: str) -> None:
    refused(*_decide_args("2023-03-01", "§ 2"), db=in_force)  # still appealed: no new decision yet


def _final_policy_announced(db: str, spec: Path, announced_on: str) -> None:
    """The 2022 spec in force from 2022-10-01 once every decision is final: all nine approve and announce."""
    spec.write_text(
        SPEC_2022.read_text(encoding="utf-8").replace(
            "in_force_on = 2023-01-01", 'in_force_on = 2022-10-01\nin_force_requires = "final"'
        ),
        encoding="utf-8",
    )
    ok("init", db=db)
    ok("propose", str(spec), "--on", "2022-06-03", db=db)
    ok("recommend", KEY, "--on", "2022-06-03", db=db)
    approve_all(db, "2022-09-05")
    _announce_all(db, announced_on)


def test_final_policy_waits_for_laga_kraft_and_the_timer_brings_it_into_force(store_url: str, tmp_path: Path) -> None:
    _final_policy_announced(store_url, tmp_path / "final.toml", "2022-09-08")
    with engine(store_url) as api:
        api.appeal(KEY, "2380", on=date(2022, 9, 20))
    ok("consolidate", KEY, "--on", "2022-10-03", db=store_url)
    ok("tick", "--now", "2022-10-04T00:00", db=store_url)
    document = status(store_url)
    assert ("consolidated", "final", ["2380"]) == (
        document["state"],
        document["in_force_requires"],
        document["waiting_for_final"],
    )
    ok("party", "settle", KEY, "2380", "--result", "dismissed", "--on", "2022-11-15", db=store_url)
    document = status(store_url)
    assert ("in_force", "2022-11-15", []) == (
        document["state"],
        document["in_force_since"],
        document["waiting_for_final"],
    )
    ok("audit", "replay", "--check", db=store_url)


def test_a_late_decision_is_marked(recommended: str) -> None:
    decide(recommended, "2380", "2022-10-05")
    decide(recommended, "2309", "2022-09-30")
    late, in_time = party(recommended, "2380"), party(recommended, "2309")
    assert (True, 5) == (late["late"], late["days_late"])
    assert (False, None) == (in_time["late"], in_time["days_late"])
    assert "(5 days late)" in ok("status", KEY, db=recommended).stdout
    events = ok("audit", "log", KEY, "--json", db=recommended).json()
    payloads = [e["payload"] for e in events if e["kind"] == "party.decided"]
    assert [5, None] == [p.get("days_late") for p in payloads]
    ok("audit", "replay", "--check", db=recommended)


def test_final_policy_the_tick_that_makes_the_last_decision_final_brings_it_into_force(
    store_url: str, tmp_path: Path
) -> None:
    _final_policy_announced(store_url, tmp_path / "final.toml", "2022-09-20")  # the appeal period ends 2022-10-11
    ok("consolidate", KEY, "--on", "2022-10-03", db=store_url)
    ok("tick", "--now", "2022-10-11T12:00", db=store_url)
    assert ("consolidated", PARTIES) == (status(store_url)["state"], status(store_url)["waiting_for_final"])
    ok("tick", "--now", "2022-10-12T00:00", db=store_url)
    document = status(store_url)
    assert ("in_force", "2022-10-12", []) == (
        document["state"],
        document["in_force_since"],
        document["waiting_for_final"],
    )
    events = ok("audit", "log", KEY, "--json", db=store_url).json()
    final_and_in_force = [e["kind"] for e in events[-2:]]
    assert ["party.final", "recommendation.in_force"] == final_and_in_force  # one transaction: the last timer's
    assert events[-1]["recorded_at"] == events[-2]["recorded_at"]
    ok("audit", "replay", "--check", db=store_url)


def test_an_unknown_in_force_requirement_is_refused(db: str, tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(
        SPEC_2022.read_text(encoding="utf-8").replace(
            "in_force_on = 2023-01-01", 'in_force_on = 2023-01-01\nin_force_requires = "signed"'
        ),
        encoding="utf-8",
    )
    result = refused("propose", str(spec), "--on", "2022-06-03", db=db)
    assert "in_force_requires" in result.stderr
