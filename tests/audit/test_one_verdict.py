"""One chain check, one replay, one verdict: `Engine.verify_audit` and `audit verify` agree on every log, and the
two-process accelerator answers exactly what the plain path answers, on clean and on broken logs, on both stores.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from beslut.audit import service
from beslut.errors import AuditVerificationFailed
from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.audit.attacker import Attacker

# The keys the domain's verdict shares with `audit verify --json` (the rest are the Merkle tree's and checkpoint's).
SHARED = ("ok", "events", "head_seq", "head_hash", "first_bad_seq", "problem", "failed_check", "streams", "checks")


def _decided(attacker: Attacker) -> Any:
    return next(r for r in attacker.records()[1200:] if r.kind == "party.decided")


def _outcome_flipped(attacker: Attacker) -> None:
    """A decision flipped and the whole chain re-hashed from it: only the transition check sees it."""
    target = _decided(attacker)
    flipped = "rejected" if '"outcome":"approved"' in target.payload else "approved"
    payload = target.payload.replace('"outcome":"approved"', f'"outcome":"{flipped}"')
    payload = payload.replace('"outcome":"rejected"', f'"outcome":"{flipped}"') if payload == target.payload else payload
    attacker.set(target.seq, "payload", payload)
    attacker.rehash_from(target.seq)


def _overdue_moved(attacker: Attacker) -> None:
    """An overdue event dated a day late, re-hashed: the domain's timer rule names it."""
    target = next(r for r in attacker.records() if r.kind == "party.overdue")
    day = target.valid_on[:-2] + f"{int(target.valid_on[-2:]) % 27 + 1:02d}"
    attacker.set(target.seq, "valid_on", day if attacker.sqlite else date.fromisoformat(day))
    attacker.rehash_from(target.seq)


ATTACKS: dict[str, Callable[[Attacker], object]] = {
    "none": lambda attacker: None,
    "broken link": lambda attacker: attacker.set(1500, "prev_hash", "f" * 64),
    "deleted row": lambda attacker: attacker.sql("DELETE FROM audit_event WHERE seq = 1700"),
    "garbage payload": lambda attacker: attacker.set(_decided(attacker).seq, "payload", "{not json"),
    "changed hash": lambda attacker: attacker.set(900, "hash", "0" * 64),
    "flipped decision, re-hashed": _outcome_flipped,
    "overdue on the wrong day, re-hashed": _overdue_moved,
}
RULES_ONLY = {"flipped decision, re-hashed", "overdue on the wrong day, re-hashed"}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_engine_and_auditor_give_one_verdict_and_two_processes_the_same_answer(big_log: str, attack: str) -> None:
    attacker = Attacker(big_log)
    try:
        attacker.drop_triggers()
        ATTACKS[attack](attacker)
    finally:
        attacker.close()
    store = open_store(big_log, read_only=True)
    try:
        plain = service.verify_store(store, parallel=False).as_dict()
        assert service.verify_store(store, parallel=True).as_dict() == plain
        replays: list[Any] = []
        for parallel in (False, True):
            try:
                result = service.replay_store(store, parallel=parallel)
            except AuditVerificationFailed as error:
                replays.append(str(error))
            else:
                replays.append(result.as_dict())
                result.close()
        assert replays[1] == replays[0]
    finally:
        store.close()
    with Engine.open(big_log) as engine:
        verdict = engine.verify_audit().as_dict()
    assert {key: plain[key] for key in SHARED} == {key: verdict[key] for key in SHARED}
    assert plain["ok"] is (attack == "none"), plain
    if attack in RULES_ONLY:  # legal for the machines: only verify's command rules see it, replay shows it
        assert plain["failed_check"] == "transition"
        assert isinstance(replays[0], dict)
    elif attack != "none":
        assert isinstance(replays[0], str)
        assert replays[0].startswith(f"audit log broken at seq {plain['first_bad_seq']}: ")
    if attack == "overdue on the wrong day, re-hashed":
        assert "is overdue the day after its reply date" in plain["problem"]
