"""Every refusal of the `beslut` CLI, on SQLite and on PostgreSQL.

Each refused command must exit 2 (3 for a stale --expect-version), print exactly one
informative line starting ``error:`` on stderr and nothing on stdout, and leave the
database exactly as it was: `refused` compares a dump of every table before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from beslut.persistence import open_store
from tests.cli.helpers import KEY, PARTIES, SPEC_2022, SPEC_2025, approve_all, decide, ok, refused, run

EXAMPLE = SPEC_2022.read_text(encoding="utf-8")


def _replace(old: str, new: str) -> Callable[[str], str]:
    """A spec mutation that replaces the one occurrence of *old* with *new*."""

    def mutate(text: str) -> str:
        assert 1 == text.count(old), old
        return text.replace(old, new)

    return mutate


SPEC_ERRORS: dict[str, tuple[Callable[[str], str], list[str]]] = {
    "unknown top-level key": (lambda t: 'colour = "blue"\n' + t, ["spec field 'colour'", "unknown key"]),
    "unknown key in a party": (
        _replace('name = "Ragunda kommun"\n', 'name = "Ragunda kommun"\nemail = "x@example.org"\n'),
        ["spec field 'party[7].email'", "unknown key"],
    ),
    "unknown party in a pool": (
        _replace('parties = ["region-jh"]', 'parties = ["region-xx"]'),
        ["spec field 'cost.pool[1].parties'", "unknown party 'region-xx'"],
    ),
    "shares not summing to 1": (
        _replace('share = "0.4925"', 'share = "0.4924"'),
        ["spec field 'cost.pool'", "shares sum to 0.9999, not exactly 1"],
    ),
    "missing population for a population split": (
        _replace("population = 5210\n", ""),
        ["spec field 'cost.pool[0].parties'", "party '2303' has no population"],
    ),
    "bad date string": (
        _replace("reply_by = 2022-09-30", 'reply_by = "2022-09-31"'),
        ["spec field 'reply_by'", "'2022-09-31' is not a date"],
    ),
    "date of the wrong type": (
        _replace("reply_by = 2022-09-30", "reply_by = 20220930"),
        ["spec field 'reply_by'", "must be a date"],
    ),
    "impossible TOML date": (
        _replace("reply_by = 2022-09-30", "reply_by = 2022-09-31"),
        ["spec field '(file)'", "not valid TOML"],
    ),
    "float total": (
        _replace('total = "5000000"', "total = 5000000.0"),
        ["spec field 'cost.total'", "floats"],
    ),
    "negative total": (
        _replace('total = "5000000"', 'total = "-5000"'),
        ["spec field 'cost.total'", "must be positive", "at most 6 decimals", "'-5000'"],
    ),
    "total with too many decimals": (
        _replace('total = "5000000"', 'total = "5000.1234567"'),
        ["spec field 'cost.total'", "at most 15 digits and at most 6 decimals"],
    ),
    "zero total": (
        _replace('total = "5000000"', 'total = "0"'),
        ["spec field 'cost.total'", "must be greater than 0", "leave out [cost]"],
    ),
    "a party in no cost pool": (
        _replace(
            'parties = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303"]',
            'parties = ["2380", "2309", "2321", "2313", "2361", "2326", "2305"]',
        ),
        ["spec field 'cost.pool'", "parties in no cost pool: '2303'"],
    ),
    "malformed TOML": (lambda t: t + "\nkey = \n", ["spec field '(file)'", "not valid TOML"]),
    "missing title": (
        _replace('title = "Mini-Maria Jämtland: inriktningsbeslut och finansiering"\n', ""),
        ["spec field 'title'", "is required"],
    ),
    "bad consolidation policy": (
        _replace('consolidation = "unanimous"', 'consolidation = "majority"'),
        ["spec field 'consolidation'", "'majority'"],
    ),
    "in force before the reply date": (
        _replace("in_force_on = 2023-01-01", "in_force_on = 2022-09-01"),
        ["spec field 'in_force_on'", "before reply_by"],
    ),
    "coordinator not a party": (
        _replace('coordinator = "region-jh"', 'coordinator = "svom"'),
        ["spec field 'coordinator'", "'svom' is not one of the parties"],
    ),
}


UNKNOWN_KEY_COMMANDS = [
    ("recommend", "nope", "--on", "2022-06-03"),
    ("withdraw", "nope", "--on", "2022-06-03", "--reason", "x"),
    ("consolidate", "nope", "--on", "2022-10-03"),
    ("party", "prepare", "nope", "2380", "--case", "KS 1", "--on", "2022-06-20"),
    ("party", "decide", "nope", "2380", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05"),
    ("party", "announce", "nope", "2380", "--on", "2022-09-08"),
    ("status", "nope"),
    ("status", "nope", "--json"),
    ("audit", "log", "nope"),
    ("audit", "log", "nope", "--json"),
]
UNKNOWN_PARTY_COMMANDS = [
    ("party", "prepare", KEY, "9999", "--case", "KS 1", "--on", "2022-06-20"),
    ("party", "propose", KEY, "9999", "--body", "SAU", "--paragraph", "§ 1", "--on", "2022-06-20"),
    ("party", "decide", KEY, "9999", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05"),
    ("party", "announce", KEY, "9999", "--on", "2022-09-08"),
    ("party", "appeal", KEY, "9999", "--on", "2022-09-08"),
    ("party", "settle", KEY, "9999", "--result", "dismissed", "--on", "2022-09-08"),
    ("party", "report", KEY, "9999", "--on", "2022-09-08"),
]


class TestUnknownKeys:
    def test_unknown_recommendation_key(self, recommended: str, subtests: pytest.Subtests) -> None:
        """A command naming a recommendation that does not exist is refused naming the key."""
        for args in UNKNOWN_KEY_COMMANDS:
            with subtests.test(" ".join(args)):
                result = refused(*args, db=recommended)
                assert "error: no recommendation 'nope'\n" == result.stderr

    def test_unknown_party(self, recommended: str, subtests: pytest.Subtests) -> None:
        """A party step naming a party the recommendation does not have is refused naming the party."""
        for args in UNKNOWN_PARTY_COMMANDS:
            with subtests.test(" ".join(args)):
                result = refused(*args, db=recommended)
                assert f"error: recommendation '{KEY}' has no party '9999'" in result.stderr
                assert "2380" in result.stderr


class TestWrongState:
    def test_recommend_twice(self, recommended: str) -> None:
        """A recommended recommendation cannot be recommended again."""
        result = refused("recommend", KEY, "--on", "2022-06-03", db=recommended)
        assert "is 'recommended': 'recommend' is not allowed" in result.stderr

    def test_consolidate_a_proposed_recommendation(self, proposed: str) -> None:
        """A recommendation that was never sent to the parties cannot be consolidated."""
        result = refused("consolidate", KEY, "--on", "2022-10-03", db=proposed)
        assert "is 'proposed': 'consolidate' is not allowed" in result.stderr

    def test_party_step_before_the_recommendation_is_sent(self, proposed: str) -> None:
        """Parties cannot record steps on a recommendation that is only proposed."""
        result = refused("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-06-20", db=proposed)
        assert f"recommendation '{KEY}' is 'proposed': party '2380' cannot record this step now" in result.stderr

    def test_announce_a_pending_party(self, recommended: str) -> None:
        """A party that has not decided has nothing to announce."""
        result = refused("party", "announce", KEY, "2380", "--on", "2022-09-08", db=recommended)
        assert "2380 of svom-2022-mini-maria is 'pending': 'announce' is not allowed" in result.stderr

    def test_appeal_a_decision_not_yet_announced(self, recommended: str) -> None:
        """A decision can only be appealed once it has been announced."""
        decide(recommended, "2380", "2022-09-05")
        result = refused("party", "appeal", KEY, "2380", "--on", "2022-09-06", db=recommended)
        assert "is 'decided': 'appeal' is not allowed" in result.stderr

    def test_appeal_after_the_appeal_period(self, recommended: str) -> None:
        """An appeal lodged after the last day of the appeal period is refused as too late."""
        decide(recommended, "2380", "2022-09-05")
        ok("party", "announce", KEY, "2380", "--on", "2022-09-08", db=recommended)
        result = refused("party", "appeal", KEY, "2380", "--on", "2022-09-30", db=recommended)
        assert "is too late" in result.stderr
        assert "ended on 2022-09-29" in result.stderr

    @pytest.mark.parametrize(("result_", "trigger"), [("dismissed", "dismiss_appeal"), ("annulled", "annul")])
    def test_settle_without_an_appeal(self, recommended: str, result_: str, trigger: str) -> None:
        """A decision that was not appealed cannot be settled."""
        decide(recommended, "2380", "2022-09-05")
        ok("party", "announce", KEY, "2380", "--on", "2022-09-08", db=recommended)
        result = refused("party", "settle", KEY, "2380", "--result", result_, "--on", "2022-09-12", db=recommended)
        assert f"is 'announced': '{trigger}' is not allowed" in result.stderr

    def test_report_before_a_decision(self, recommended: str) -> None:
        """There is no minute extract to receive before the party has decided."""
        result = refused("party", "report", KEY, "2380", "--on", "2022-09-12", db=recommended)
        assert "party '2380' is 'pending': there is no decision to report yet" in result.stderr

    def test_decide_after_consolidation(self, recommended: str) -> None:
        """A party that never answered cannot decide once the recommendation is consolidated."""
        approve_all(recommended, "2022-09-20", PARTIES[:-1])
        ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        result = refused(
            "party", "decide", KEY, "region-jh", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-10-04",
            db=recommended,
        )  # fmt: skip
        assert f"recommendation '{KEY}' is 'consolidated': party 'region-jh' cannot record this step" in result.stderr

    def test_withdraw_a_consolidated_recommendation(self, recommended: str) -> None:
        """A consolidated recommendation can no longer be withdrawn."""
        approve_all(recommended, "2022-09-20")
        ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        result = refused("withdraw", KEY, "--on", "2022-10-04", "--reason", "ångrat", db=recommended)
        assert "is 'consolidated': 'withdraw' is not allowed" in result.stderr

    def test_consolidate_twice(self, recommended: str) -> None:
        """A consolidated recommendation cannot be consolidated again."""
        approve_all(recommended, "2022-09-20")
        ok("consolidate", KEY, "--on", "2022-10-03", db=recommended)
        result = refused("consolidate", KEY, "--on", "2022-10-04", db=recommended)
        assert "is 'consolidated': 'consolidate' is not allowed" in result.stderr

    def test_consolidate_before_the_reply_date_names_the_undecided_parties(self, recommended: str) -> None:
        """Consolidation while parties are undecided before their reply date is refused naming each of them."""
        approve_all(recommended, "2022-09-10", PARTIES[:-2])
        result = refused("consolidate", KEY, "--on", "2022-09-15", db=recommended)
        assert "parties still undecided before their reply date" in result.stderr
        assert "2303 (reply by 2022-09-30), region-jh (reply by 2022-09-30)" in result.stderr

    def test_consolidate_before_a_recorded_decision(self, recommended: str) -> None:
        """Consolidation cannot be dated before a decision it would count."""
        approve_all(recommended, "2022-09-20")
        result = refused("consolidate", KEY, "--on", "2022-09-19", db=recommended)
        assert "decided later, on 2022-09-20" in result.stderr


class TestDuplicates:
    def test_decide_twice(self, recommended: str) -> None:
        """A party that has decided cannot decide again without the decision being annulled."""
        decide(recommended, "2380", "2022-09-05")
        result = refused(
            "party", "decide", KEY, "2380", "--outcome", "rejected", "--paragraph", "§ 2", "--on", "2022-09-06",
            db=recommended,
        )  # fmt: skip
        assert "party '2380' has already decided" in result.stderr

    def test_propose_the_same_key_twice(self, proposed: str) -> None:
        """A second spec with an existing key is refused naming the key."""
        result = refused("propose", str(SPEC_2022), "--on", "2022-06-04", db=proposed)
        assert f"error: recommendation '{KEY}' already exists\n" == result.stderr

    def test_report_twice(self, recommended: str) -> None:
        """The minute extract can only be received once."""
        decide(recommended, "2380", "2022-09-05")
        ok("party", "report", KEY, "2380", "--on", "2022-09-12", db=recommended)
        result = refused("party", "report", KEY, "2380", "--on", "2022-09-13", db=recommended)
        assert "was already received on 2022-09-12" in result.stderr


class TestSpecErrors:
    def test_invalid_spec_is_refused_naming_the_field(
        self, db: str, write_spec: Callable[..., Path], subtests: pytest.Subtests
    ) -> None:
        """A spec with an error is refused with a message that names the field."""
        for case, (mutate, phrases) in SPEC_ERRORS.items():
            with subtests.test(case):
                result = refused("propose", str(write_spec(mutate(EXAMPLE))), "--on", "2022-06-03", db=db)
                for phrase in phrases:
                    assert phrase in result.stderr

    def test_nonexistent_spec_file(self, db: str, tmp_path: Path) -> None:
        """A spec path that does not exist is refused naming the path."""
        missing = tmp_path / "missing.toml"
        result = refused("propose", str(missing), "--on", "2022-06-03", db=db)
        assert f"error: cannot read spec {missing}" in result.stderr

    def test_supersedes_an_unknown_key(self, db: str) -> None:
        """A revision of a recommendation that does not exist is refused naming the supersedes field."""
        result = refused("propose", str(SPEC_2025), "--on", "2025-03-07", db=db)
        assert "error: spec field 'supersedes': no recommendation 'svom-2022-mini-maria'\n" == result.stderr


class TestDates:
    def test_bad_on_date(self, recommended: str, subtests: pytest.Subtests) -> None:
        """An --on that is not an ISO date is refused naming the option and the value."""
        for args in [
            ("recommend", KEY, "--on", "2022-13-01"),
            ("consolidate", KEY, "--on", "3 oktober"),
            ("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-06-31"),
            ("party", "announce", KEY, "2380", "--on", "yesterday"),
        ]:
            with subtests.test(" ".join(args)):
                result = refused(*args, db=recommended)
                assert f"error: --on: {args[-1]!r} is not a date (YYYY-MM-DD)\n" == result.stderr

    def test_bad_on_date_for_propose(self, db: str) -> None:
        """propose refuses a malformed --on too."""
        result = refused("propose", str(SPEC_2022), "--on", "03/06/2022", db=db)
        assert "error: --on: '03/06/2022' is not a date" in result.stderr

    def test_on_in_the_future_for_propose(self, db: str) -> None:
        """A proposal dated after today is refused."""
        result = refused("propose", str(SPEC_2022), "--on", "2999-01-01", db=db)
        assert "the legal date 2999-01-01 is after today" in result.stderr

    def test_on_in_the_future(self, recommended: str, subtests: pytest.Subtests) -> None:
        """A legal date after today is refused."""
        for args in [
            ("withdraw", KEY, "--reason", "x"),
            ("consolidate", KEY),
            ("party", "prepare", KEY, "2380", "--case", "KS 1"),
            ("party", "propose", KEY, "2380", "--body", "SAU", "--paragraph", "§ 1"),
            ("party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "§ 1"),
        ]:
            with subtests.test(" ".join(args)):
                result = refused(*args, "--on", "2999-01-01", db=recommended)
                assert "the legal date 2999-01-01 is after today" in result.stderr

    def test_on_in_the_future_for_recommend(self, proposed: str) -> None:
        """recommend refuses a legal date after today."""
        result = refused("recommend", KEY, "--on", "2999-01-01", db=proposed)
        assert "the legal date 2999-01-01 is after today" in result.stderr

    def test_on_before_the_party_previous_step(self, recommended: str) -> None:
        """A party step dated before that party's previous step is refused."""
        ok("party", "prepare", KEY, "2380", "--case", "KS 2022/301", "--on", "2022-06-20", db=recommended)
        result = refused(
            "party", "propose", KEY, "2380", "--body", "KSAU", "--paragraph", "§ 121", "--on", "2022-06-10",
            db=recommended,
        )  # fmt: skip
        assert "the legal date 2022-06-10 is before the previous step of party '2380' on 2022-06-20" in result.stderr

    def test_decide_before_the_party_previous_step(self, recommended: str) -> None:
        """A decision dated before the party's committee proposal is refused."""
        ok(
            "party", "propose", KEY, "2380", "--body", "KSAU", "--paragraph", "§ 121", "--on", "2022-08-23",
            db=recommended,
        )  # fmt: skip
        result = refused(
            "party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-08-22",
            db=recommended,
        )  # fmt: skip
        assert "is before the previous step of party '2380' on 2022-08-23" in result.stderr

    def test_on_before_the_recommendation_date(self, recommended: str) -> None:
        """A party step dated before the recommendation was sent is refused."""
        result = refused("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-06-01", db=recommended)
        assert "the legal date 2022-06-01 is before the recommendation was sent to the parties on 2022-06-03" in (
            result.stderr
        )

    def test_recommend_before_the_proposal(self, proposed: str) -> None:
        """A recommendation cannot be sent before it was proposed."""
        result = refused("recommend", KEY, "--on", "2022-06-02", db=proposed)
        assert "the legal date 2022-06-02 is before the recommendation was proposed on 2022-06-03" in result.stderr

    def test_consolidate_before_the_recommendation_date(self, recommended: str) -> None:
        """Consolidation cannot be dated before the recommendation was sent."""
        result = refused("consolidate", KEY, "--on", "2022-06-02", db=recommended)
        assert "is before the recommendation was sent to the parties on 2022-06-03" in result.stderr


class TestOptionValues:
    def test_conditions_missing_for_approved_with_conditions(self, recommended: str) -> None:
        """approved_with_conditions without --conditions is refused."""
        result = refused(
            "party", "decide", KEY, "2321", "--outcome", "approved_with_conditions", "--paragraph", "§ 190",
            "--on", "2022-08-30", db=recommended,
        )  # fmt: skip
        assert "error: outcome approved_with_conditions needs --conditions\n" == result.stderr

    def test_conditions_with_approved(self, recommended: str) -> None:
        """--conditions with a plain approval is refused."""
        result = refused(
            "party", "decide", KEY, "2321", "--outcome", "approved", "--conditions", "x", "--paragraph", "§ 190",
            "--on", "2022-08-30", db=recommended,
        )  # fmt: skip
        assert "error: --conditions only goes with approved_with_conditions, not approved\n" == result.stderr

    def test_bad_outcome(self, recommended: str) -> None:
        """An outcome other than the three is refused listing them."""
        result = refused(
            "party", "decide", KEY, "2321", "--outcome", "maybe", "--paragraph", "§ 190", "--on", "2022-08-30",
            db=recommended,
        )  # fmt: skip
        assert (
            "error: outcome must be one of approved, rejected, approved_with_conditions, got 'maybe'\n" == result.stderr
        )

    def test_bad_result(self, recommended: str) -> None:
        """A settle result other than dismissed or annulled is refused."""
        decide(recommended, "2326", "2022-09-06")
        ok("party", "announce", KEY, "2326", "--on", "2022-09-09", db=recommended)
        ok("party", "appeal", KEY, "2326", "--on", "2022-09-20", db=recommended)
        result = refused("party", "settle", KEY, "2326", "--result", "upheld", "--on", "2022-11-28", db=recommended)
        assert "error: result must be dismissed or annulled, got 'upheld'\n" == result.stderr

    def test_empty_paragraph(self, recommended: str) -> None:
        """A blank --paragraph is refused."""
        result = refused(
            "party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "  ", "--on", "2022-09-05",
            db=recommended,
        )  # fmt: skip
        assert "error: --paragraph must not be empty\n" == result.stderr


USAGE_ERRORS = [
    (("recommend", KEY), "Missing option '--on'"),
    (("withdraw", KEY, "--on", "2022-06-10"), "Missing option '--reason'"),
    (("party", "decide", KEY, "2380", "--paragraph", "§ 1", "--on", "2022-09-05"), "Missing option '--outcome'"),
    (("party", "prepare", KEY, "2380", "--on", "2022-06-20"), "Missing option '--case'"),
    (("party", "settle", KEY, "2380", "--on", "2022-09-05"), "Missing option '--result'"),
    (("tick",), "Missing option '--now'"),
    (("recommend", "--on", "2022-06-03"), "Missing argument"),
    (("party", "announce", KEY, "--on", "2022-06-03"), "Missing argument"),
    (("status", "--bogus"), "No such option: --bogus"),
    (("frobnicate",), "No such command 'frobnicate'"),
    (("party", "frobnicate"), "No such command 'frobnicate'"),
    (("recommend", KEY, "--on", "2022-06-03", "--expect-version", "two"), "Invalid value for '--expect-version'"),
]


class TestUsageErrors:
    def test_usage_error_is_one_error_line(self, recommended: str, subtests: pytest.Subtests) -> None:
        """A usage error from Typer is folded into one `error:` line with exit 2."""
        for args, phrase in USAGE_ERRORS:
            with subtests.test(" ".join(args)):
                result = refused(*args, db=recommended)
                assert phrase in result.stderr

    @pytest.mark.parametrize("args", [(), ("party",), ("audit",)], ids=["beslut", "party", "audit"])
    def test_no_command_gives_an_informative_error(self, args: tuple[str, ...]) -> None:
        """A missing command shows the help on stdout and one `error:` line saying no command was given."""
        result = run(*args, db=None)
        assert 2 == result.code
        assert "Usage: beslut" in result.stdout
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith("error: no command given")


class TestConcurrency:
    def test_stale_expect_version_exits_3(self, recommended: str) -> None:
        """A command with a stale --expect-version is refused with exit 3 and the current version."""
        result = refused("consolidate", KEY, "--on", "2022-10-03", "--expect-version", "1", db=recommended, code=3)
        assert f"error: recommendation '{KEY}' is at version 2, not 1: reload and try again\n" == result.stderr

    def test_stale_expect_version_on_a_party_step(self, recommended: str) -> None:
        """A party step with a stale --expect-version is refused with exit 3 too."""
        decide(recommended, "2380", "2022-09-05")
        result = refused(
            "party", "announce", KEY, "2380", "--on", "2022-09-08", "--expect-version", "2", db=recommended, code=3
        )
        assert "is at version 3, not 2" in result.stderr


class TestTickRefusals:
    def test_tick_in_the_future(self, recommended: str) -> None:
        """A tick at an instant after now is refused: a transition is never fired early."""
        result = refused("tick", "--now", "2999-01-01T00:00", db=recommended)
        assert "error: tick at 2999-01-01T00:00:00+01:00 is in the future" in result.stderr

    def test_tick_with_a_malformed_now(self, recommended: str, subtests: pytest.Subtests) -> None:
        """A --now that is not an ISO instant is refused naming the option."""
        for now in ["yesterday", "2022-10-01 noon", "2022-13-01T00:00"]:
            with subtests.test(now):
                result = refused("tick", "--now", now, db=recommended)
                assert f"error: --now: {now!r} is not a date-time" in result.stderr

    def test_tick_json_in_the_future(self, recommended: str) -> None:
        """`tick --json` in the future prints no JSON, only the error line."""
        result = refused("tick", "--now", "2999-01-01T00:00", "--json", db=recommended)
        assert "is in the future" in result.stderr


UNINITIALISED_COMMANDS = [
    ("status",),
    ("status", KEY, "--json"),
    ("recommend", KEY, "--on", "2022-06-03"),
    ("withdraw", KEY, "--on", "2022-06-03", "--reason", "x"),
    ("consolidate", KEY, "--on", "2022-10-03"),
    ("propose", str(SPEC_2022), "--on", "2022-06-03"),
    ("party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05"),
    ("party", "report", KEY, "2380", "--on", "2022-09-05"),
    ("tick", "--now", "2022-10-01T00:00"),
    ("audit", "verify"),
    ("audit", "verify", "--json"),
    ("audit", "log", "--json"),
]


class TestUninitialisedDatabase:
    def test_command_on_a_database_never_initialised(self, store_url: str, subtests: pytest.Subtests) -> None:
        """Any command but init on a database without the schema is refused, naming `beslut init`."""
        for args in UNINITIALISED_COMMANDS:
            with subtests.test(" ".join(args[:3])):
                result = run(*args, db=store_url)
                assert 2 == result.code
                assert 1 == len(result.error_lines)
                assert result.stderr.startswith("error: database ")
                assert "run `beslut init` first" in result.stderr
                assert "" == result.stdout
        if "://" in store_url:
            store = open_store(store_url)
            try:
                assert not store.is_initialised()
            finally:
                store.close()
        else:
            assert not Path(store_url).exists()

    def test_sqlite_file_is_not_created(self, tmp_path: Path, subtests: pytest.Subtests) -> None:
        """A refused command on a SQLite path that does not exist leaves no file behind."""
        path = tmp_path / "never.db"
        for args in UNINITIALISED_COMMANDS:
            with subtests.test(" ".join(args[:3])):
                result = run(*args, db=str(path))
                assert 2 == result.code
                assert f"error: database {path} does not exist: run `beslut init` first\n" == result.stderr
                assert [] == sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("never.db"))

    def test_init_into_a_missing_directory(self, tmp_path: Path) -> None:
        """init into a directory that does not exist is refused and creates nothing."""
        result = run("init", db=str(tmp_path / "no" / "such" / "beslut.db"))
        assert 2 == result.code
        assert f"error: directory {tmp_path / 'no' / 'such'} does not exist\n" == result.stderr
        assert "" == result.stdout
        assert not (tmp_path / "no").exists()

    def test_unsupported_database_url(self, tmp_path: Path) -> None:
        """A database URL of an unsupported kind is refused naming the scheme."""
        result = run("status", db="mysql://localhost/beslut")
        assert 2 == result.code
        assert "error: unsupported database URL 'mysql'" in result.stderr
        assert 1 == len(result.error_lines)


class TestRefusalCleanup:
    def test_refusal_closes_its_database_connection(self, postgres_url: str) -> None:
        """A refused command closes its connection instead of leaving it to the garbage collector."""
        ok("init", db=postgres_url)
        result = run("recommend", "nope", "--on", "2022-06-03", db=postgres_url)
        assert 2 == result.code
        assert [] == result.resource_warnings
