"""The `beslut` command line as a user drives it, on SQLite and on PostgreSQL.

Every command's happy path, the JSON contracts of `status`, `tick`, `audit verify`
and `audit log`, and the demo. Refusals live in test_cli_refusals.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from beslut.clock import STOCKHOLM
from tests.cli.helpers import (
    AMOUNTS_2022,
    KEY,
    KEY_2025,
    PARTIES,
    SPEC_2022,
    SPEC_2025,
    approve_all,
    decide,
    dump,
    ok,
    party,
    refused,
    run,
    run_script,
    status,
    tamper_audit,
)

STATUS_KEYS = {"key", "state", "outcome", "reply_by", "in_force_on", "version", "parties"}
PARTY_KEYS = {"key", "state", "outcome", "deadline", "overdue", "amount"}

ROLLING_SPEC = """\
key = "midsommar-test"
title = "A reply date on midsommarafton"
issuer = "SVOM"
coordinator = "a"
reply_by = 2022-06-24
reply_by_rolls = {rolls}
consolidation = "unanimous"

[[party]]
key = "a"
name = "Part A"
deciding_body = "KS"

[[party]]
key = "b"
name = "Part B"
deciding_body = "KF"
"""


class TestInit:
    def test_init_creates_the_schema(self, store_url: str) -> None:
        """`init` on a new database creates the schema and says so."""
        result = run("init", db=store_url)
        assert 0 == result.code
        assert result.stdout.startswith("initialised ")
        assert "" == result.stderr
        assert {"recommendations": []} == ok("status", "--json", db=store_url).json()

    def test_init_twice_changes_nothing(self, db: str) -> None:
        """A second `init` succeeds, says the database was already initialised, and writes nothing."""
        before = dump(db)
        result = run("init", db=db)
        assert 0 == result.code
        assert "was already initialised" in result.stdout
        assert before == dump(db)

    def test_init_uses_beslut_db_from_the_environment(self, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --db, BESLUT_DB names the database."""
        monkeypatch.setenv("BESLUT_DB", store_url)
        assert 0 == run("init", db=None).code
        assert {"recommendations": []} == ok("status", "--json", db=store_url).json()


class TestPropose:
    def test_propose_registers_the_spec(self, db: str) -> None:
        """`propose SPEC --on DATE` registers the recommendation with its nine parties at version 1."""
        result = ok("propose", str(SPEC_2022), "--on", "2022-06-03", db=db)
        assert f"{KEY}: proposed with 9 parties, reply by 2022-09-30 (version 1)\n" == result.stdout
        document = status(db)
        assert "proposed" == document["state"]
        assert "2022-06-03" == document["proposed_on"]
        assert 1 == document["version"]
        assert PARTIES == [p["key"] for p in document["parties"]]
        assert {"pending"} == {p["state"] for p in document["parties"]}

    def test_propose_without_on_is_dated_today(self, db: str) -> None:
        """`propose` without --on takes today's date in Stockholm as the legal date."""
        ok("propose", str(SPEC_2022), db=db)
        assert datetime.now(STOCKHOLM).date().isoformat() == status(db)["proposed_on"]

    def test_propose_a_revision_of_an_existing_recommendation(self, proposed: str) -> None:
        """The 2025 revision names the 2022 case it supersedes and rolls its Saturday reply date."""
        result = ok("propose", str(SPEC_2025), "--on", "2025-03-07", db=proposed)
        assert f"{KEY_2025}: proposed with 9 parties, reply by 2025-06-16 (version 1)\n" == result.stdout
        document = status(proposed, KEY_2025)
        assert KEY == document["supersedes"]
        assert "2025-06-16" == document["reply_by"]


class TestRecommend:
    def test_recommend_opens_the_parties_decisions(self, proposed: str) -> None:
        """`recommend` moves the case to recommended at version 2."""
        result = ok("recommend", KEY, "--on", "2022-06-03", db=proposed)
        assert f"{KEY}: recommended (version 2)\n" == result.stdout
        document = status(proposed)
        assert "recommended" == document["state"]
        assert "2022-06-03" == document["recommended_on"]
        assert 2 == document["version"]

    def test_recommend_with_the_current_expected_version(self, proposed: str) -> None:
        """A matching --expect-version lets the command through."""
        ok("recommend", KEY, "--on", "2022-06-03", "--expect-version", "1", db=proposed)
        assert "recommended" == status(proposed)["state"]


class TestWithdraw:
    def test_withdraw_a_proposed_recommendation(self, proposed: str) -> None:
        """A proposed recommendation can be withdrawn with a reason."""
        result = ok("withdraw", KEY, "--on", "2022-06-10", "--reason", "fel underlag", db=proposed)
        assert f"{KEY}: withdrawn (version 2)\n" == result.stdout
        assert "withdrawn" == status(proposed)["state"]

    def test_withdraw_a_recommended_recommendation_costs_nobody(self, recommended: str) -> None:
        """A withdrawn recommendation is withdrawn and every party's amount is zero."""
        ok("withdraw", KEY, "--on", "2022-06-10", "--reason", "fel underlag", db=recommended)
        document = status(recommended)
        assert "withdrawn" == document["state"]
        assert "2022-06-10" == document["withdrawn_on"]
        assert {"0"} == {p["amount"] for p in document["parties"]}


class TestPartySteps:
    def test_prepare_opens_the_party_case(self, recommended: str) -> None:
        """`party prepare` records the case number and moves the party to preparing."""
        result = ok("party", "prepare", KEY, "2380", "--case", "KS 2022/301", "--on", "2022-06-20", db=recommended)
        assert f"{KEY}: 2380 preparing (KS 2022/301) (version 3)\n" == result.stdout
        p = party(recommended, "2380")
        assert "preparing" == p["state"]
        assert "KS 2022/301" == p["case_number"]
        assert "2022-06-20" == p["prepared_on"]

    def test_propose_records_the_committee_proposal(self, recommended: str) -> None:
        """`party propose` records body, paragraph and date and moves the party to proposed."""
        ok("party", "prepare", KEY, "2380", "--case", "KS 2022/301", "--on", "2022-06-20", db=recommended)
        result = ok(
            "party", "propose", KEY, "2380", "--body", "KSAU", "--paragraph", "§ 121", "--on", "2022-08-23",
            db=recommended,
        )  # fmt: skip
        assert f"{KEY}: 2380 proposed by KSAU § 121 (version 4)\n" == result.stdout
        p = party(recommended, "2380")
        assert "proposed" == p["state"]
        assert {"body": "KSAU", "paragraph": "§ 121", "on": "2022-08-23"} == p["proposal"]

    def test_decide_approved_takes_the_body_from_the_spec(self, recommended: str) -> None:
        """Without --body the deciding body is the party's from the spec (KS for 2380, KF for 2309)."""
        result = decide(recommended, "2380", "2022-09-05")
        assert f"{KEY}: 2380 decided: approved (version 3)\n" == result.stdout
        decide(recommended, "2309", "2022-09-21")
        first, second = party(recommended, "2380"), party(recommended, "2309")
        assert ("decided", "approved", "KS", "§ 1", "2022-09-05") == (
            first["state"], first["outcome"], first["deciding_body"], first["paragraph"], first["decided_on"],
        )  # fmt: skip
        assert "KF" == second["deciding_body"]

    def test_decide_with_body_overrides_the_spec(self, recommended: str) -> None:
        """--body replaces the deciding body given in the spec."""
        decide(recommended, "2380", "2022-09-05", "approved", "--body", "KF")
        assert "KF" == party(recommended, "2380")["deciding_body"]

    def test_decide_rejected(self, recommended: str) -> None:
        """A rejection is recorded as the outcome rejected."""
        decide(recommended, "2309", "2022-09-21", "rejected")
        p = party(recommended, "2309")
        assert ("decided", "rejected", None) == (p["state"], p["outcome"], p["conditions"])

    def test_decide_approved_with_conditions(self, recommended: str) -> None:
        """approved_with_conditions keeps the conditions text."""
        decide(recommended, "2321", "2022-08-30", "approved_with_conditions", "--conditions", "Likalydande beslut.")
        p = party(recommended, "2321")
        assert ("approved_with_conditions", "Likalydande beslut.") == (p["outcome"], p["conditions"])

    def test_announce_starts_the_appeal_period(self, recommended: str) -> None:
        """`party announce` moves the party to announced with the last day to appeal three weeks later."""
        decide(recommended, "2380", "2022-09-05")
        result = ok("party", "announce", KEY, "2380", "--on", "2022-09-08", db=recommended)
        assert f"{KEY}: 2380 announced; appeal period ends 2022-09-29 (version 4)\n" == result.stdout
        p = party(recommended, "2380")
        assert ("announced", "2022-09-08", "2022-09-29") == (p["state"], p["announced_on"], p["appeal_last_day"])

    def test_appeal_then_dismissed_makes_the_decision_final(self, recommended: str) -> None:
        """An appeal moves the party to appealed; a dismissed appeal makes the decision final."""
        decide(recommended, "2326", "2022-09-06")
        ok("party", "announce", KEY, "2326", "--on", "2022-09-09", db=recommended)
        result = ok("party", "appeal", KEY, "2326", "--on", "2022-09-20", db=recommended)
        assert f"{KEY}: 2326 appealed (version 5)\n" == result.stdout
        assert "appealed" == party(recommended, "2326")["state"]
        result = ok("party", "settle", KEY, "2326", "--result", "dismissed", "--on", "2022-11-28", db=recommended)
        assert f"{KEY}: 2326 appeal dismissed (version 6)\n" == result.stdout
        p = party(recommended, "2326")
        assert ("final", "dismissed", "approved", "2022-11-28") == (
            p["state"], p["settlement"], p["outcome"], p["final_on"],
        )  # fmt: skip

    def test_appeal_then_annulled_sends_the_party_back_to_decide_again(self, recommended: str) -> None:
        """An annulled decision returns the party to preparing without an outcome, and it can decide again."""
        decide(recommended, "2326", "2022-09-06")
        ok("party", "announce", KEY, "2326", "--on", "2022-09-09", db=recommended)
        ok("party", "appeal", KEY, "2326", "--on", "2022-09-20", db=recommended)
        result = ok("party", "settle", KEY, "2326", "--result", "annulled", "--on", "2022-09-26", db=recommended)
        assert f"{KEY}: 2326 appeal annulled (version 6)\n" == result.stdout
        p = party(recommended, "2326")
        assert ("preparing", "annulled", None, None) == (p["state"], p["settlement"], p["outcome"], p["decided_on"])
        decide(recommended, "2326", "2022-09-27", "rejected")
        assert ("decided", "rejected") == (party(recommended, "2326")["state"], party(recommended, "2326")["outcome"])

    def test_report_records_the_minute_extract(self, recommended: str) -> None:
        """`party report` records when the coordinator received the minute extract."""
        decide(recommended, "2380", "2022-09-05")
        result = ok("party", "report", KEY, "2380", "--on", "2022-09-12", db=recommended)
        assert f"{KEY}: 2380 minute extract received (version 4)\n" == result.stdout
        assert "2022-09-12" == party(recommended, "2380")["minute_extract_received_on"]


class TestConsolidate:
    def test_all_approve_adopts_with_the_known_amounts(self, recommended: str) -> None:
        """When all nine approve the case is adopted and each party pays its known share."""
        approve_all(recommended, "2022-09-20")
        result = ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        assert f"{KEY}: consolidated: adopted (version 12)\n" == result.stdout
        document = status(recommended)
        assert ("consolidated", "adopted", "2022-10-03") == (
            document["state"], document["outcome"], document["consolidated_on"],
        )  # fmt: skip
        assert PARTIES == document["participants"]
        assert AMOUNTS_2022 == {p["key"]: p["amount"] for p in document["parties"]}
        assert "5000000" == document["total"]

    def test_one_rejection_is_not_adopted_and_costs_nobody(self, recommended: str) -> None:
        """Under unanimity one rejection makes the outcome not_adopted and every amount zero."""
        approve_all(recommended, "2022-09-20", [p for p in PARTIES if p != "2309"])
        decide(recommended, "2309", "2022-09-21", "rejected")
        ok("consolidate", KEY, "--on", "2022-09-22", db=recommended)
        document = status(recommended)
        assert ("consolidated", "not_adopted") == (document["state"], document["outcome"])
        assert {"0"} == {p["amount"] for p in document["parties"]}

    def test_after_the_reply_date_a_missing_party_counts_as_not_answered(self, recommended: str) -> None:
        """Consolidating after the reply date is allowed with an undecided party, which counts as no answer."""
        approve_all(recommended, "2022-09-20", [p for p in PARTIES if p != "2303"])
        ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        document = status(recommended)
        assert "not_adopted" == document["outcome"]
        log = ok("audit", "log", KEY, "--json", db=recommended).json()
        assert ["2303"] == log[-1]["payload"]["not_answered"]

    def test_adopted_case_comes_into_force_on_its_date(self, recommended: str) -> None:
        """A tick at 00:00 on the in-force date brings the adopted agreement into force."""
        approve_all(recommended, "2022-09-20")
        ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        ok("tick", "--now", "2023-01-01T00:00", db=recommended)
        document = status(recommended)
        assert ("in_force", "2023-01-01") == (document["state"], document["in_force_since"])

    def test_the_revision_supersedes_the_agreement_in_force(self, recommended: str) -> None:
        """When the 2025 revision comes into force the 2022 agreement becomes superseded."""
        approve_all(recommended, "2022-09-20")
        ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        ok("tick", "--now", "2023-01-01T00:00", db=recommended)
        ok("propose", str(SPEC_2025), "--on", "2025-03-07", db=recommended)
        ok("recommend", KEY_2025, "--on", "2025-03-07", db=recommended)
        approve_all(recommended, "2025-05-20", key=KEY_2025)
        ok("consolidate", KEY_2025, "--on", "2025-06-23", db=recommended)
        ok("tick", "--now", "2025-09-01T00:00", db=recommended)
        assert "in_force" == status(recommended, KEY_2025)["state"]
        old = status(recommended)
        assert ("superseded", KEY_2025) == (old["state"], old["superseded_by"])


class TestTick:
    def test_tick_prints_each_deadline_and_a_count(self, recommended: str) -> None:
        """A tick after the reply date marks every undecided party overdue, one line each, then the count."""
        result = ok("tick", "--now", "2022-10-01T00:00", db=recommended)
        lines = result.stdout.splitlines()
        # Per party: the reply-by transition, the overdue reminder, and the two coalesced before-reminders.
        assert "36 deadline(s) handled" == lines[-1]
        assert 37 == len(lines)
        assert f"2022-10-01T00:00:00+02:00 {KEY} 2380 reply_by: party.overdue" in lines
        assert f"2022-10-01T00:00:00+02:00 {KEY} 2380 remind_overdue: 1 message(s) queued" in lines
        assert f"2022-09-16T00:00:00+02:00 {KEY} 2380 remind_before: 0 message(s) queued, 1 skipped (coalesced)" in lines

    def test_tick_json_lists_what_fired(self, recommended: str) -> None:
        """`tick --json` gives {"fired": [...]} with recommendation, party, kind, due_at, status and events."""
        document = ok("tick", "--now", "2022-10-01T00:00", "--json", db=recommended).json()
        assert ["fired"] == list(document)
        transitions = [f for f in document["fired"] if f["kind"] == "reply_by"]
        assert sorted(PARTIES) == sorted(f["party"] for f in transitions)
        assert {
            "recommendation": KEY,
            "party": "2380",
            "kind": "reply_by",
            "due_at": "2022-10-01T00:00:00+02:00",
            "status": "done",
            "events": ["party.overdue"],
            "messages": 0,
            "skipped": 0,
        } == next(f for f in transitions if f["party"] == "2380")

    def test_tick_at_the_same_instant_twice_changes_nothing(self, recommended: str) -> None:
        """A second tick at the same instant handles nothing and leaves the database as it was."""
        ok("tick", "--now", "2022-10-01T00:00", db=recommended)
        before = dump(recommended)
        result = ok("tick", "--now", "2022-10-01T00:00", db=recommended)
        assert "0 deadline(s) handled\n" == result.stdout
        assert before == dump(recommended)

    def test_tick_json_twice_fires_nothing_the_second_time(self, recommended: str) -> None:
        """The second `tick --json` at the same instant reports an empty list and writes nothing."""
        ok("tick", "--now", "2022-10-01T00:00", "--json", db=recommended)
        before = dump(recommended)
        assert {"fired": []} == ok("tick", "--now", "2022-10-01T00:00", "--json", db=recommended).json()
        assert before == dump(recommended)

    def test_tick_marks_only_the_undecided_party_overdue(self, recommended: str) -> None:
        """After 2022-09-30 ends only the party that has not decided is overdue."""
        approve_all(recommended, "2022-09-20", [p for p in PARTIES if p != "2303"])
        before_deadline = ok("tick", "--now", "2022-09-30T23:59", db=recommended)
        # Only 2303's two before-reminders were due: the older one coalesced into the newer one.
        assert "2 deadline(s) handled" == before_deadline.stdout.splitlines()[-1]
        assert "reply_by" not in before_deadline.stdout
        assert dict.fromkeys(PARTIES, False) == {p["key"]: p["overdue"] for p in status(recommended)["parties"]}
        ok("tick", "--now", "2022-10-01T00:00", db=recommended)
        expected = {p: p == "2303" for p in PARTIES}
        assert expected == {p["key"]: p["overdue"] for p in status(recommended)["parties"]}

    def test_tick_after_the_appeal_period_makes_the_decision_final(self, recommended: str) -> None:
        """An announced decision becomes final when its appeal period has ended, not before."""
        decide(recommended, "2380", "2022-09-05")
        ok("party", "announce", KEY, "2380", "--on", "2022-09-08", db=recommended)
        ok("tick", "--now", "2022-09-29T23:59", db=recommended)
        assert "announced" == party(recommended, "2380")["state"]
        ok("tick", "--now", "2022-09-30T00:00", db=recommended)
        assert "final" == party(recommended, "2380")["state"]

    def test_tick_accepts_an_offset_and_a_bare_date(self, recommended: str) -> None:
        """--now with an explicit offset and --now as a bare date (00:00 local) both work."""
        before_midnight = ok("tick", "--now", "2022-09-30T21:59:00+00:00", db=recommended)
        assert "reply_by" not in before_midnight.stdout  # only the before-reminders were due
        at_midnight = ok("tick", "--now", "2022-10-01", db=recommended)
        assert 9 == sum("reply_by: party.overdue" in line for line in at_midnight.stdout.splitlines())


class TestStatus:
    def test_status_json_has_the_contract_keys(self, proposed: str) -> None:
        """`status KEY --json` has key, state, outcome, reply_by, in_force_on, version and the party keys."""
        document = status(proposed)
        assert STATUS_KEYS <= set(document)
        for p in document["parties"]:
            assert PARTY_KEYS <= set(p)
        assert (KEY, "proposed", None, "2022-09-30", "2023-01-01", 1) == (
            document["key"], document["state"], document["outcome"], document["reply_by"],
            document["in_force_on"], document["version"],
        )  # fmt: skip
        assert {("pending", None, "2022-09-30", False)} == {
            (p["state"], p["outcome"], p["deadline"], p["overdue"]) for p in document["parties"]
        }

    def test_status_json_gives_the_known_amounts(self, proposed: str) -> None:
        """The planned amounts split 5 000 000 SEK exactly as the known answer says."""
        assert AMOUNTS_2022 == {p["key"]: p["amount"] for p in status(proposed)["parties"]}

    def test_status_json_without_key_lists_every_recommendation(self, proposed: str) -> None:
        """Without KEY, --json gives {"recommendations": [...]} in the same shape as with KEY."""
        ok("propose", str(SPEC_2025), "--on", "2025-03-07", db=proposed)
        document = ok("status", "--json", db=proposed).json()
        assert ["recommendations"] == list(document)
        assert [KEY, KEY_2025] == [r["key"] for r in document["recommendations"]]
        assert [status(proposed, KEY), status(proposed, KEY_2025)] == document["recommendations"]

    def test_status_json_of_an_empty_database(self, db: str) -> None:
        """An empty database has no recommendations."""
        assert {"recommendations": []} == ok("status", "--json", db=db).json()

    def test_status_human_with_key_shows_every_party_and_amount(self, recommended: str) -> None:
        """`status KEY` prints the case header and a row per party with its amount grouped by thousands."""
        decide(recommended, "2380", "2022-09-05")
        text = ok("status", KEY, db=recommended).stdout
        assert KEY in text
        assert "reply by 2022-09-30" in text
        assert "Östersunds kommun" in text
        assert "Region Jämtland Härjedalen" in text
        assert "1 236 026" in text
        assert "2 462 500" in text
        assert "5 000 000" in text

    def test_status_human_without_key_shows_the_overview(self, recommended: str) -> None:
        """`status` prints one overview row per recommendation."""
        decide(recommended, "2380", "2022-09-05")
        text = ok("status", db=recommended).stdout
        assert "Recommendations" in text
        assert KEY in text
        assert "recommended" in text
        assert "1/9" in text

    def test_status_human_of_an_empty_database(self, db: str) -> None:
        """An empty database says there are no recommendations yet."""
        assert "no recommendations yet\n" == ok("status", db=db).stdout


class TestReplyDateRolling:
    def test_reply_by_on_midsommarafton_rolls_to_monday(self, db: str, write_spec: Callable[..., Path]) -> None:
        """With reply_by_rolls=true a reply date on midsommarafton 2022-06-24 becomes Monday 2022-06-27."""
        ok("propose", str(write_spec(ROLLING_SPEC.format(rolls="true"))), "--on", "2022-06-01", db=db)
        document = status(db, "midsommar-test")
        assert ("2022-06-27", "2022-06-24") == (document["reply_by"], document["reply_by_as_given"])
        assert ["2022-06-27", "2022-06-27"] == [p["deadline"] for p in document["parties"]]

    def test_reply_by_on_midsommarafton_2026_rolls_to_monday_22_june(
        self, db: str, write_spec: Callable[..., Path]
    ) -> None:
        """2026: midsommarafton is Friday 19 June (midsommardagen Saturday 20): the reply date becomes Monday 22."""
        text = ROLLING_SPEC.format(rolls="true").replace("reply_by = 2022-06-24", "reply_by = 2026-06-19")
        ok("propose", str(write_spec(text)), "--on", "2025-06-02", db=db)
        document = status(db, "midsommar-test")
        assert ("2026-06-22", "2026-06-19") == (document["reply_by"], document["reply_by_as_given"])
        assert ["2026-06-22", "2026-06-22"] == [p["deadline"] for p in document["parties"]]

    def test_reply_by_does_not_roll_when_the_spec_says_so(self, db: str, write_spec: Callable[..., Path]) -> None:
        """With reply_by_rolls=false the reply date stays on midsommarafton."""
        ok("propose", str(write_spec(ROLLING_SPEC.format(rolls="false"))), "--on", "2022-06-01", db=db)
        document = status(db, "midsommar-test")
        assert "2022-06-24" == document["reply_by"]
        assert ["2022-06-24", "2022-06-24"] == [p["deadline"] for p in document["parties"]]

    def test_overdue_follows_the_rolled_date(self, db: str, write_spec: Callable[..., Path]) -> None:
        """No party is overdue after midsommarafton; both are after the rolled Monday ends."""
        ok("propose", str(write_spec(ROLLING_SPEC.format(rolls="true"))), "--on", "2022-06-01", db=db)
        ok("recommend", "midsommar-test", "--on", "2022-06-01", db=db)
        ok("tick", "--now", "2022-06-25T00:00", db=db)
        assert [False, False] == [p["overdue"] for p in status(db, "midsommar-test")["parties"]]
        ok("tick", "--now", "2022-06-28T00:00", db=db)
        assert [True, True] == [p["overdue"] for p in status(db, "midsommar-test")["parties"]]


class TestAuditVerify:
    def test_verify_human_says_ok_with_the_head(self, recommended: str) -> None:
        """`audit verify` exits 0 and prints the number of events, the head seq and its hash."""
        result = ok("audit", "verify", db=recommended)
        assert re.fullmatch(r"ok: 2 events, head seq 2, hash [0-9a-f]{64}\n", result.stdout), result.stdout
        assert "" == result.stderr

    def test_verify_json_reports_the_chain(self, recommended: str) -> None:
        """`audit verify --json` reports ok, the count and the head hash of the last event."""
        report = ok("audit", "verify", "--json", db=recommended).json()
        head = ok("audit", "log", "--json", db=recommended).json()[-1]
        assert {
            "ok": True,
            "events": 2,
            "head_seq": 2,
            "head_hash": head["hash"],
            "first_bad_seq": None,
            "problem": None,
        }.items() <= report.items()  # the auditor's keys come after these (docs/auditor.md)

    def test_verify_an_empty_log(self, db: str) -> None:
        """An empty audit log verifies."""
        report = ok("audit", "verify", "--json", db=db).json()
        assert (True, 0) == (report["ok"], report["events"])

    def test_verify_a_tampered_log_exits_4_naming_the_seq(self, recommended: str) -> None:
        """A payload changed behind the triggers' back fails verification with exit 4 naming seq 2."""
        tamper_audit(recommended, seq=2)
        result = refused("audit", "verify", db=recommended, code=4)
        assert result.stderr.startswith("error: audit log broken at seq 2")


class TestAuditLog:
    def test_log_json_is_oldest_first(self, recommended: str) -> None:
        """`audit log --json` lists every event with a gap-free seq from 1, oldest first."""
        decide(recommended, "2380", "2022-09-05")
        events = ok("audit", "log", "--json", db=recommended).json()
        assert [1, 2, 3] == [e["seq"] for e in events]
        assert ["recommendation.proposed", "recommendation.recommended", "party.decided"] == [e["kind"] for e in events]
        assert {
            "seq",
            "stream",
            "stream_seq",
            "recorded_at",
            "valid_on",
            "kind",
            "payload",
            "prev_hash",
            "hash",
        } == set(events[0])
        assert events[0]["hash"] == events[1]["prev_hash"]
        assert {"party": "2380", "outcome": "approved", "body": "KS", "paragraph": "§ 1", "actor": "cli"} == events[2][
            "payload"
        ]

    def test_log_json_with_key_keeps_to_that_recommendation(self, recommended: str) -> None:
        """`audit log KEY --json` gives only that recommendation's events."""
        ok("propose", str(SPEC_2025), "--on", "2025-03-07", db=recommended)
        everything = ok("audit", "log", "--json", db=recommended).json()
        only_2022 = ok("audit", "log", KEY, "--json", db=recommended).json()
        only_2025 = ok("audit", "log", KEY_2025, "--json", db=recommended).json()
        assert [1, 2, 3] == [e["seq"] for e in everything]
        assert [1, 2] == [e["stream_seq"] for e in only_2022]
        assert {KEY} == {e["stream"] for e in only_2022}
        assert [(KEY_2025, 3)] == [(e["stream"], e["seq"]) for e in only_2025]

    def test_log_human_shows_each_event(self, recommended: str) -> None:
        """`audit log` prints a table row per event, with its kind and a reading of its payload."""
        decide(recommended, "2380", "2022-09-05")
        text = ok("audit", "log", db=recommended).stdout
        assert "recommendation.proposed" in text
        assert "recommendation.recommended" in text
        assert "party=2380 outcome=approved" in text
        assert text.index("recommendation.proposed") < text.index("party.decided")

    def test_log_human_with_key(self, recommended: str) -> None:
        """`audit log KEY` prints only that recommendation's events."""
        ok("propose", str(SPEC_2025), "--on", "2025-03-07", db=recommended)
        text = ok("audit", "log", KEY_2025, db=recommended).stdout
        assert KEY_2025 in text
        assert KEY + " " not in text
        assert "recommendation.recommended" not in text


class TestDemo:
    def test_demo_plays_both_recommendations(self, tmp_path: Path) -> None:
        """`demo --db PATH` plays 2022 and 2025, says the dates are illustrative and shows 2022 superseded."""
        path = str(tmp_path / "demo.db")
        result = ok("demo", db=path)
        assert "illustrative" in result.stdout
        assert KEY in result.stdout
        assert KEY_2025 in result.stdout
        assert "superseded" in result.stdout
        assert "audit log: ok" in result.stdout
        assert "superseded" == status(path)["state"]
        assert "in_force" == status(path, KEY_2025)["state"]
        assert "" == result.stderr

    def test_demo_into_an_existing_database_is_refused(self, tmp_path: Path) -> None:
        """A second demo into the same path is refused with exit 2 and leaves the database alone."""
        path = str(tmp_path / "demo.db")
        ok("demo", db=path)
        result = refused("demo", db=path)
        assert "exists" in result.stderr


class TestConsoleScript:
    def test_init_exits_0(self, store_url: str, tmp_path: Path) -> None:
        """The installed `beslut init` creates the schema and exits 0."""
        result = run_script("init", db=store_url, cwd=tmp_path)
        assert (0, "") == (result.code, result.stderr)
        assert result.stdout.startswith("initialised ")
        assert {"recommendations": []} == ok("status", "--json", db=store_url).json()

    def test_refusal_exits_2_with_one_error_line(self, recommended: str, tmp_path: Path) -> None:
        """A refused command of the installed script exits 2 with one `error:` line and changes nothing."""
        before = dump(recommended)
        result = run_script("party", "announce", KEY, "2380", "--on", "2022-09-08", db=recommended, cwd=tmp_path)
        assert 2 == result.code
        assert "" == result.stdout
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith("error: ")
        assert "is 'pending': 'announce' is not allowed" in result.stderr
        assert before == dump(recommended)

    def test_usage_error_exits_2_with_one_error_line(self, db: str, tmp_path: Path) -> None:
        """A missing option in the installed script is one `error:` line and exit 2, without Click's usage box."""
        result = run_script("recommend", KEY, db=db, cwd=tmp_path)
        assert (2, "", ["error: Missing option '--on'."]) == (result.code, result.stdout, result.error_lines)

    def test_stale_version_exits_3(self, recommended: str, tmp_path: Path) -> None:
        """A stale --expect-version in the installed script exits 3."""
        result = run_script("consolidate", KEY, "--on", "2022-10-03", "--expect-version", "1", db=recommended,
                            cwd=tmp_path)  # fmt: skip
        assert 3 == result.code
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith("error: ")

    def test_audit_verify_exits_0(self, recommended: str, tmp_path: Path) -> None:
        """The installed `beslut audit verify` exits 0 and reports the chain."""
        result = run_script("audit", "verify", "--json", db=recommended, cwd=tmp_path)
        assert (0, "") == (result.code, result.stderr)
        assert (True, 2) == (result.json()["ok"], result.json()["events"])

    def test_audit_verify_of_a_tampered_log_exits_4(self, recommended: str, tmp_path: Path) -> None:
        """The installed `beslut audit verify` exits 4 with one line naming the first bad seq."""
        tamper_audit(recommended, seq=2)
        result = run_script("audit", "verify", db=recommended, cwd=tmp_path)
        assert 4 == result.code
        assert "" == result.stdout
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith("error: audit log broken at seq 2")
