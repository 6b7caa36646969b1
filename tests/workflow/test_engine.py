"""The engine on both stores: commands, refusals that change nothing, concurrency, tick, supersession, replay."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from beslut import demo
from beslut.clock import STOCKHOLM, FixedClock
from beslut.errors import (
    ConcurrencyConflict,
    Duplicate,
    InvalidInput,
    NotFound,
    Refusal,
    RuleViolation,
    TransitionNotAllowed,
)
from beslut.persistence import Store
from beslut.persistence._sql import SqlStore
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES, spec_2022


def _decide_all(engine: Engine, on: date = date(2022, 9, 1), outcome: str = "approved") -> None:
    for party in PARTIES:
        engine.decide(KEY, party, outcome=outcome, paragraph="§ 1", on=on)


class TestCommands:
    def test_propose_and_recommend(self, recommended: Engine) -> None:
        """A proposed and recommended case has every party pending with the rolled reply date."""
        case = recommended.case(KEY)
        assert ("recommended", 2) == (case.state, case.version)
        assert {"pending"} == {p.state for p in case.parties}
        assert date(2022, 9, 30) == case.party("2380").deadline

    def test_full_path_to_in_force(self, recommended: Engine) -> None:
        """Decide, announce, tick to laga kraft, consolidate, tick into force."""
        _decide_all(recommended)
        for party in PARTIES:
            recommended.announce(KEY, party, on=date(2022, 9, 5))
        fired = recommended.tick(datetime(2022, 9, 27, 0, 0, tzinfo=STOCKHOLM))
        assert 9 == len(fired)
        assert {"final"} == {p.state for p in recommended.case(KEY).parties}
        result = recommended.consolidate(KEY, on=date(2022, 10, 3))
        assert ("consolidated", "adopted") == (result.case.state, result.case.outcome)
        recommended.clock.set(datetime(2023, 1, 2, tzinfo=STOCKHOLM))  # type: ignore[attr-defined]
        recommended.tick(datetime(2022, 12, 31, 23, 59, tzinfo=STOCKHOLM))
        assert "consolidated" == recommended.case(KEY).state
        recommended.tick(datetime(2023, 1, 1, 0, 0, tzinfo=STOCKHOLM))
        case = recommended.case(KEY)
        assert ("in_force", date(2023, 1, 1)) == (case.state, case.in_force_since)

    def test_amounts_are_exact(self, recommended: Engine) -> None:
        """The status amounts are the known answer and sum to the total."""
        amounts = recommended.case(KEY).amounts()
        assert amounts is not None
        assert Decimal("100113") == amounts["2303"]
        assert Decimal("5000000") == sum(amounts.values())

    def test_demo_plays_on_both_stores(self, store: Store) -> None:
        """The Mini-Maria demo runs end to end; the 2022 agreement ends superseded by the 2025 revision."""
        engine = Engine(store, clock=FixedClock(datetime(2026, 1, 1, tzinfo=STOCKHOLM)), actor="demo")
        demo.play(engine)
        old, new = engine.case(demo.KEY_2022), engine.case(demo.KEY_2025)
        assert ("superseded", demo.KEY_2025, date(2025, 9, 1)) == (old.state, old.superseded_by, old.superseded_on)
        assert ("in_force", date(2025, 9, 1)) == (new.state, new.in_force_since)
        assert engine.verify_audit().ok
        for key in (demo.KEY_2022, demo.KEY_2025):
            assert engine.case(key) == engine.replay(key)


def _refusals() -> list[tuple[str, type[Exception], object]]:
    return [
        ("unknown key", NotFound, lambda e: e.recommend("nope", on=date(2022, 6, 3))),
        (
            "unknown party",
            NotFound,
            lambda e: e.decide(KEY, "9999", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1)),
        ),
        ("recommend twice", TransitionNotAllowed, lambda e: e.recommend(KEY, on=date(2022, 6, 4))),
        (
            "future date",
            InvalidInput,
            lambda e: e.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2023, 1, 1)),
        ),
        (
            "bad outcome",
            InvalidInput,
            lambda e: e.decide(KEY, "2380", outcome="maybe", paragraph="§ 1", on=date(2022, 9, 1)),
        ),
        ("announce pending", TransitionNotAllowed, lambda e: e.announce(KEY, "2380", on=date(2022, 9, 1))),
        ("early consolidation", RuleViolation, lambda e: e.consolidate(KEY, on=date(2022, 9, 30))),
        ("duplicate propose", Duplicate, lambda e: e.propose(spec_2022(), on=date(2022, 6, 3))),
        (
            "stale version",
            ConcurrencyConflict,
            lambda e: e.withdraw(KEY, on=date(2022, 7, 1), reason="x", expected_version=1),
        ),
        ("future tick", InvalidInput, lambda e: e.tick(datetime(2023, 6, 1, tzinfo=STOCKHOLM))),
    ]


class TestRefusals:
    @pytest.mark.parametrize(("error", "command"), [r[1:] for r in _refusals()], ids=[r[0] for r in _refusals()])
    def test_refusal_changes_nothing(self, recommended: Engine, error: type[Exception], command: object) -> None:
        """Each refusal raises its named error and the database dump is identical before and after."""
        before = recommended.store.dump()
        with pytest.raises(error):
            command(recommended)  # type: ignore[operator]
        assert before == recommended.store.dump()

    def test_failure_after_writes_rolls_back(self, recommended: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        """A failure after the state row was written (while appending the audit event) rolls everything back."""
        before = recommended.store.dump()
        from beslut.persistence import _sql  # noqa: PLC0415

        def explode(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(_sql.SqlUnitOfWork, "append_events", explode)
        with pytest.raises(RuntimeError):
            recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        assert before == recommended.store.dump()


class TestConcurrency:
    def test_stale_version_is_a_conflict(self, recommended: Engine) -> None:
        """A command carrying an old version is refused with ConcurrencyConflict (exit 3)."""
        recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1), expected_version=2)
        with pytest.raises(ConcurrencyConflict) as conflict:
            recommended.decide(
                KEY, "2309", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1), expected_version=2
            )
        assert 3 == conflict.value.exit_code

    def test_racing_decisions_one_wins(self, recommended: Engine) -> None:
        """Eight threads deciding the same party at once: exactly one wins, the rest are refused, seq stays gap-free."""
        barrier = threading.Barrier(8)
        outcomes: list[str] = []
        lock = threading.Lock()

        def attempt(index: int) -> None:
            barrier.wait()
            try:
                recommended.decide(KEY, "2380", outcome="approved", paragraph=f"§ {index}", on=date(2022, 9, 1))
                result = "won"
            except (Duplicate, ConcurrencyConflict):
                result = "refused"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (1, 7) == (outcomes.count("won"), outcomes.count("refused"))
        assert [1, 2, 3] == [r.seq for r in recommended.audit_log()]
        assert recommended.verify_audit().ok

    def test_racing_recommendations_keep_seq_gap_free(self, engine: Engine) -> None:
        """Writers on different recommendations interleave without a gap or a fork in the chain."""
        for index in range(6):
            engine.propose(spec_2022().replace(KEY, f"{KEY}-{index}"), on=date(2022, 6, 3))
        barrier = threading.Barrier(6)
        errors: list[Exception] = []

        def work(index: int) -> None:
            barrier.wait()
            try:
                key = f"{KEY}-{index}"
                engine.recommend(key, on=date(2022, 6, 3))
                for party in PARTIES[:3]:
                    engine.decide(key, party, outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [] == errors
        report = engine.verify_audit()
        assert (True, 6 + 6 * 4) == (report.ok, report.events)


class TestTick:
    def test_overdue_at_end_of_reply_date(self, recommended: Engine) -> None:
        """A party without a decision is overdue from 00:00 after its reply date, not a minute before."""
        recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        early = recommended.tick(datetime(2022, 9, 30, 23, 59, tzinfo=STOCKHOLM))
        assert [] == [f for f in early if f.records]  # reminders only, no transition yet
        fired = recommended.tick(datetime(2022, 10, 1, 0, 0, tzinfo=STOCKHOLM))
        assert 8 == len([f for f in fired if f.deadline.kind == "reply_by" and f.records])
        case = recommended.case(KEY)
        assert (False, True) == (case.party("2380").overdue, case.party("2309").overdue)
        statuses = {d.party: d.status for d in recommended.deadlines(status=None, key=KEY) if d.kind == "reply_by"}
        assert "cancelled" == statuses["2380"]  # it decided in time
        assert {"done"} == {statuses[p] for p in PARTIES if p != "2380"}  # the deadline fired

    def test_tick_is_idempotent(self, recommended: Engine) -> None:
        """A second tick at the same instant changes nothing."""
        at = datetime(2022, 10, 1, 0, 0, tzinfo=STOCKHOLM)
        recommended.tick(at)
        before = recommended.store.dump()
        assert [] == recommended.tick(at)
        assert before == recommended.store.dump()

    def test_decision_cancels_the_reply_deadline(self, recommended: Engine) -> None:
        """Once a party decides its reply-by deadline is cancelled, and announcing adds the appeal deadline."""
        recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        recommended.announce(KEY, "2380", on=date(2022, 9, 5))
        mine = [(d.kind, d.status) for d in recommended.deadlines(status=None, key=KEY) if d.party == "2380"]
        expected = [("reply_by", "cancelled"), ("appeal_ends", "pending")]
        expected += [("remind_before", "cancelled")] * 2 + [("remind_overdue", "cancelled"), ("escalate", "cancelled")]
        assert sorted(expected) == sorted(mine)

    def test_appeal_period_end_on_midsommar(self, recommended: Engine) -> None:
        """An announcement on 2022-06-03 makes the decision final after Monday 2022-06-27 (midsommarafton rolls)."""
        recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 6, 3))
        recommended.announce(KEY, "2380", on=date(2022, 6, 3))
        assert [] == recommended.tick(datetime(2022, 6, 27, 23, 0, tzinfo=STOCKHOLM))
        recommended.tick(datetime(2022, 6, 28, 0, 0, tzinfo=STOCKHOLM))
        assert date(2022, 6, 28) == recommended.case(KEY).party("2380").final_on


class TestAuditLog:
    def test_timestamps_keep_their_zone(self, recommended: Engine, clock: FixedClock) -> None:
        """recorded_at comes back as the same instant, in Stockholm time with its offset."""
        clock.set(datetime(2022, 7, 1, 10, 30, 15, 123456, tzinfo=STOCKHOLM))
        recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 7, 1))
        assert "2022-07-01T10:30:15.123456+02:00" == recommended.audit_log(KEY)[-1].recorded_at

    def test_payload_has_ids_not_names(self, recommended: Engine) -> None:
        """A decision's payload names the party by key and the actor by id."""
        recommended.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        payload = recommended.audit_log(KEY)[-1].as_dict()["payload"]
        assert {"actor": "test", "party": "2380", "outcome": "approved", "body": "KS", "paragraph": "§ 1"} == payload

    @pytest.mark.parametrize("statement", ["UPDATE audit_event SET kind = 'x'", "DELETE FROM audit_event"])
    def test_append_only_at_the_database(self, recommended: Engine, statement: str) -> None:
        """The database itself refuses UPDATE and DELETE on audit_event."""
        store = recommended.store
        assert isinstance(store, SqlStore)
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
        assert 2 == len(recommended.audit_log())

    def test_verify_names_the_first_tampered_seq(self, recommended: Engine) -> None:
        """With the triggers dropped, as an attacker with the file could, a changed payload is caught at its seq."""
        _decide_all(recommended)
        store = recommended.store
        assert isinstance(store, SqlStore)
        with store.engine.begin() as connection:
            if store.engine.dialect.name == "sqlite":
                connection.execute(text("DROP TRIGGER audit_event_no_update"))
            else:
                connection.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
            connection.execute(
                text("UPDATE audit_event SET payload = replace(payload, 'approved', 'rejected') WHERE seq = 5")
            )
        report = recommended.verify_audit()
        assert (False, 5) == (report.ok, report.first_bad_seq)

    def test_replay_equals_live_state(self, recommended: Engine) -> None:
        """The case rebuilt from its events alone equals the stored case."""
        _decide_all(recommended)
        recommended.announce(KEY, "2380", on=date(2022, 9, 5))
        recommended.tick(datetime(2022, 10, 1, tzinfo=STOCKHOLM))
        recommended.consolidate(KEY, on=date(2022, 10, 3))
        assert recommended.case(KEY) == recommended.replay(KEY)


class TestSupersession:
    def test_revision_supersedes_only_when_in_force(self, store: Store) -> None:
        """Proposing a revision of an unknown key is refused; the old agreement is superseded on the revision's in-force date."""
        clock = FixedClock(datetime(2026, 1, 1, tzinfo=STOCKHOLM))
        engine = Engine(store, clock=clock)
        with pytest.raises(NotFound, match="supersedes"):
            engine.propose(demo.example_spec("mini-maria-2025.toml"), on=date(2025, 3, 7))
        demo.play(engine)
        assert demo.KEY_2025 == engine.case(demo.KEY_2022).superseded_by


def test_refusal_is_a_refusal() -> None:
    """Every refusal class carries exit code 2 except conflicts (3)."""
    assert (2, 2, 2, 3) == (NotFound.exit_code, Duplicate.exit_code, Refusal.exit_code, ConcurrencyConflict.exit_code)
