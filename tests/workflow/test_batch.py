"""Engine.batch on both stores: equal to the same commands one by one, all or nothing, refusals name the item.

The one-by-one run and the batch run use twin recommendations (the same spec under
two keys) in one database, so both stores are covered by the ordinary fixtures; what
is compared is everything but the key and recorded_at.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from beslut.errors import ConcurrencyConflict, Duplicate, InvalidInput, NotFound, Refusal, RuleViolation
from beslut.states.case import Case
from beslut.workflow import Engine, PartyStep
from tests.cli import helpers as cli
from tests.conftest import PARTIES, spec_2022

KEY = "svom-2022-mini-maria"


def _spec(key: str) -> str:
    return spec_2022().replace(f'key = "{KEY}"', f'key = "{key}"', 1)


def _open(engine: Engine, *keys: str) -> None:
    for key in keys:
        engine.propose(_spec(key), on=date(2022, 6, 3))
        engine.recommend(key, on=date(2022, 6, 3))


def _steps(first: str, second: str) -> list[PartyStep]:
    """A mixed workload over two recommendations, interleaved, with every kind of party step."""
    steps: list[PartyStep] = []
    for party in PARTIES[:3]:
        steps.append(PartyStep(action="prepare", key=first, party=party, on=date(2022, 6, 10), case_number="KS 1"))
        steps.append(
            PartyStep(action="propose", key=first, party=party, on=date(2022, 6, 20), body="KSAU", paragraph="§ 3")
        )
    for party in PARTIES:
        outcome = "rejected" if party == "2309" else "approved"
        steps.append(
            PartyStep(action="decide", key=second, party=party, on=date(2022, 8, 22), outcome=outcome, paragraph="§ 7")
        )
        steps.append(
            PartyStep(
                action="decide",
                key=first,
                party=party,
                on=date(2022, 8, 23),
                outcome="approved",
                paragraph="§ 8",
                body="KF",
            )
        )
    steps.append(PartyStep(action="announce", key=first, party="2380", on=date(2022, 8, 25)))
    steps.append(PartyStep(action="appeal", key=first, party="2380", on=date(2022, 8, 30)))
    steps.append(PartyStep(action="settle", key=first, party="2380", on=date(2022, 10, 3), result="dismissed"))
    steps.append(PartyStep(action="report", key=second, party="2321", on=date(2022, 8, 26)))
    return steps


def _one_by_one(engine: Engine, steps: list[PartyStep]) -> None:
    """The same steps through the single commands."""
    for s in steps:
        if s.action == "prepare":
            engine.prepare(s.key, s.party, case_number=s.case_number or "", on=s.on)
        elif s.action == "propose":
            engine.propose_party(s.key, s.party, body=s.body or "", paragraph=s.paragraph or "", on=s.on)
        elif s.action == "decide":
            engine.decide(
                s.key,
                s.party,
                outcome=s.outcome or "",
                paragraph=s.paragraph or "",
                on=s.on,
                body=s.body,
                conditions=s.conditions,
            )
        elif s.action == "announce":
            engine.announce(s.key, s.party, on=s.on)
        elif s.action == "appeal":
            engine.appeal(s.key, s.party, on=s.on)
        elif s.action == "settle":
            engine.settle(s.key, s.party, result=s.result or "", on=s.on)
        else:
            engine.report(s.key, s.party, on=s.on)


def _case_shape(case: Case) -> tuple[Any, ...]:
    return (case.state, case.version, case.outcome, case.parties)


def _stream(engine: Engine, key: str) -> list[tuple[Any, ...]]:
    """The stream's events after propose (whose payload holds the key) and recommend."""
    return [(r.stream_seq, r.valid_on, r.kind, r.payload) for r in engine.audit_log(key)[2:]]


def _deadlines(engine: Engine, key: str) -> list[tuple[Any, ...]]:
    """The pending timers. (One by one also leaves cancelled rows of states the batch passes through unsaved.)"""
    return [(d.party, d.kind, d.due_at) for d in engine.deadlines(status="pending", key=key)]


class TestEqualsOneByOne:
    def test_states_audit_and_deadlines_match_the_single_commands(self, engine: Engine) -> None:
        """Twin cases: one driven command by command, one by one batch; all but key and recorded_at agree."""
        _open(engine, "solo-a", "solo-b", "batch-a", "batch-b")
        _one_by_one(engine, _steps("solo-a", "solo-b"))
        head = engine.verify_audit()

        result = engine.batch(_steps("batch-a", "batch-b"))

        for solo, batched in (("solo-a", "batch-a"), ("solo-b", "batch-b")):
            assert _case_shape(engine.case(solo)) == _case_shape(engine.case(batched))
            assert _stream(engine, solo) == _stream(engine, batched)
            assert _deadlines(engine, solo) == _deadlines(engine, batched)
            assert engine.replay(batched) == engine.case(batched)  # replay equals the live tables
        report = engine.verify_audit()
        assert report.ok, report
        steps = len(_steps("a", "b"))
        assert [r.seq for r in result.records] == list(range(head.events + 1, head.events + steps + 1))
        assert [r.stream for r in result.records] == [s.key for s in _steps("batch-a", "batch-b")]
        assert {c.key for c in result.cases} == {"batch-a", "batch-b"}

    def test_later_steps_see_earlier_ones_and_versions_count_per_step(self, engine: Engine) -> None:
        """Per-item expected_version is the version just before that item, as if run one by one."""
        _open(engine, KEY)
        engine.batch(
            [
                PartyStep(
                    action="decide",
                    key=KEY,
                    party="2380",
                    on=date(2022, 8, 22),
                    outcome="approved",
                    paragraph="§ 1",
                    expected_version=2,
                ),
                PartyStep(action="announce", key=KEY, party="2380", on=date(2022, 8, 25), expected_version=3),
            ]
        )
        assert ("announced", 4) == (engine.case(KEY).party("2380").state, engine.case(KEY).version)

    def test_empty_batch_writes_nothing(self, engine: Engine) -> None:
        _open(engine, KEY)
        before = engine.store.dump()
        assert () == engine.batch([]).records
        assert before == engine.store.dump()


class TestAllOrNothing:
    @pytest.mark.parametrize(
        ("bad", "error", "words"),
        [
            (
                PartyStep(
                    action="decide", key=KEY, party="2380", on=date(2022, 8, 23), outcome="approved", paragraph="§ 2"
                ),
                Duplicate,
                "already decided",
            ),
            (
                PartyStep(
                    action="decide", key=KEY, party="9999", on=date(2022, 8, 23), outcome="approved", paragraph="§ 2"
                ),
                NotFound,
                "no party",
            ),
            (
                PartyStep(
                    action="decide", key="nope", party="2380", on=date(2022, 8, 23), outcome="approved", paragraph="§ 2"
                ),
                NotFound,
                "no recommendation",
            ),
            (
                PartyStep(
                    action="decide", key=KEY, party="2309", on=date(2023, 8, 23), outcome="approved", paragraph="§ 2"
                ),
                InvalidInput,
                "after today",
            ),
            (
                PartyStep(
                    action="decide", key=KEY, party="2309", on=date(2022, 8, 23), outcome="maybe", paragraph="§ 2"
                ),
                InvalidInput,
                "outcome must be",
            ),
            (PartyStep(action="report", key=KEY, party="2305", on=date(2022, 8, 23)), RuleViolation, "no decision"),
            (
                PartyStep(action="decide", key=KEY, party="2309", on=date(2022, 8, 23), paragraph="§ 2"),
                InvalidInput,
                "needs outcome",
            ),
            (PartyStep(action="vote", key=KEY, party="2309", on=date(2022, 8, 23)), InvalidInput, "unknown action"),
        ],
    )
    def test_a_refusal_in_the_middle_changes_nothing(
        self, engine: Engine, bad: PartyStep, error: type[Refusal], words: str
    ) -> None:
        """Item 2 is refused: its class (exit code) is kept, the message names it, and nothing is written."""
        _open(engine, KEY)
        engine.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 8, 22))
        steps = [
            PartyStep(
                action="decide", key=KEY, party="2321", on=date(2022, 8, 22), outcome="approved", paragraph="§ 1"
            ),
            PartyStep(action="announce", key=KEY, party="2380", on=date(2022, 8, 25)),
            bad,
            PartyStep(
                action="decide", key=KEY, party="2313", on=date(2022, 8, 22), outcome="approved", paragraph="§ 1"
            ),
        ]
        before = engine.store.dump()

        with pytest.raises(error) as raised:
            engine.batch(steps)

        assert str(raised.value).startswith(f"batch item 2 ({bad.action} {bad.key!r} party {bad.party!r}): ")
        assert words in str(raised.value)
        assert before == engine.store.dump()

    def test_the_same_step_twice_is_refused(self, engine: Engine) -> None:
        _open(engine, KEY)
        step = PartyStep(action="prepare", key=KEY, party="2380", on=date(2022, 6, 10), case_number="KS 1")
        other = PartyStep(action="prepare", key=KEY, party="2309", on=date(2022, 6, 10), case_number="KS 2")
        before = engine.store.dump()
        with pytest.raises(Duplicate, match=r"^batch item 2 .*repeats batch item 0"):
            engine.batch([step, other, step])
        assert before == engine.store.dump()

    def test_a_stale_version_is_a_concurrency_conflict(self, engine: Engine) -> None:
        """An item whose expected_version is not the case's version then: exit-3 class, nothing written."""
        _open(engine, KEY)
        before = engine.store.dump()
        steps = [
            PartyStep(
                action="prepare", key=KEY, party="2380", on=date(2022, 6, 10), case_number="KS 1", expected_version=2
            ),
            PartyStep(
                action="prepare", key=KEY, party="2309", on=date(2022, 6, 10), case_number="KS 2", expected_version=2
            ),
        ]
        with pytest.raises(ConcurrencyConflict, match=r"^batch item 1 .*at version 3, not 2") as raised:
            engine.batch(steps)
        assert 3 == raised.value.exit_code
        assert before == engine.store.dump()


class TestImportCommand:
    """`beslut party import FILE`: JSON Lines or CSV, one transaction, one-line refusals naming the line."""

    @pytest.fixture
    def db(self, store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.delenv("BESLUT_DB", raising=False)
        monkeypatch.delenv("BESLUT_ACTOR", raising=False)
        with cli.engine(store_url) as api:
            api.init()
            _open(api, KEY)
        return store_url

    def test_jsonl_and_csv_imports_apply_every_line(self, db: str, tmp_path: Path) -> None:
        lines = tmp_path / "steps.jsonl"
        lines.write_text(
            json.dumps({"action": "prepare", "key": KEY, "party": "2380", "on": "2022-06-10", "case_number": "KS 1"})
            + "\n\n"  # a blank line is skipped
            + json.dumps(
                {
                    "action": "decide",
                    "key": KEY,
                    "party": "2309",
                    "on": "2022-08-22",
                    "outcome": "rejected",
                    "paragraph": "§ 4",
                    "expected_version": 3,
                }
            )
            + "\n",
            encoding="utf-8",
        )
        table = tmp_path / "steps.csv"
        table.write_text(
            "action,key,party,on,outcome,paragraph,conditions\n"
            f"decide,{KEY},2321,2022-08-22,approved_with_conditions,§ 5,Om regionen betalar\n"
            f"decide,{KEY},2313,2022-08-22,approved,§ 6,\n",
            encoding="utf-8",
        )
        assert "2 steps on 1 recommendations (2 audit events)" in cli.ok("party", "import", str(lines), db=db).stdout
        cli.ok("party", "import", str(table), db=db)
        with cli.engine(db) as api:
            case = api.case(KEY)
            assert [("preparing", None), ("decided", "rejected"), ("decided", "approved_with_conditions")] == [
                (case.party(p).state, case.party(p).outcome) for p in ("2380", "2309", "2321")
            ]
            assert 6 == case.version
            assert api.verify_audit().ok

    @pytest.mark.parametrize(
        ("content", "code", "words"),
        [
            (
                '{"action": "decide", "key": "K", "party": "2380", "on": "2022-08-22", "outcome": "approved",'
                ' "paragraph": "§ 1"}\n{"action": "decide", "key": "K", "party": "9999", "on": "2022-08-22",'
                ' "outcome": "approved", "paragraph": "§ 1"}\n',
                2,
                "line 2 (decide 'K' party '9999'): ",
            ),
            (
                '{"action": "prepare", "key": "K", "party": "2380", "on": "2022-06-10", "case_number": "1",'
                ' "expected_version": 7}\n',
                3,
                "line 1 (prepare 'K' party '2380'): recommendation",
            ),
            (
                '{"action": "decide", "key": "K", "party": "2380", "on": "2022-08-22", "outcom": "approved"}\n',
                2,
                "line 1: unknown field 'outcom'",
            ),
            ("not json\n", 2, "line 1: not JSON"),
            ('{"action": "decide", "key": "K", "party": "2380", "on": "22 aug"}\n', 2, "is not a date"),
        ],
    )
    def test_a_bad_line_refuses_the_whole_file(
        self, db: str, tmp_path: Path, content: str, code: int, words: str
    ) -> None:
        path = tmp_path / "steps.jsonl"
        path.write_text(content.replace('"K"', f'"{KEY}"'), encoding="utf-8")
        result = cli.refused("party", "import", str(path), db=db, code=code)
        assert words.replace("'K'", repr(KEY)) in result.stderr

    def test_a_missing_file_is_refused(self, db: str, tmp_path: Path) -> None:
        result = cli.refused("party", "import", str(tmp_path / "nope.jsonl"), db=db)
        assert "cannot read it" in result.stderr
