"""`--actor` and `BESLUT_ACTOR` are ids, never names: on SQLite and on PostgreSQL.

The actor goes into the hashed, append-only audit payload, where it can never be erased. So
anything that is not an id (1-64 ASCII letters, digits and ``. _ : -``; no space, no ``@``) is
refused: exit 2, exactly one ``error:`` line naming where it came from, the database unchanged
(``refused`` compares a dump of every table before and after). A valid id reaches the log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import KEY, SPEC_2022, ok, refused

BAD = {
    "a name": "Anna Andersson",
    "an e-mail address": "anna.andersson@example.se",
    "65 characters": "a" * 65,
    "empty": "",
    "a non-ASCII letter": "åsa",
}
DECIDE = ("party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05")
# Every command that writes audit events and takes --actor, each in a state where it would succeed.
WRITERS = [
    DECIDE,
    ("party", "prepare", KEY, "2380", "--case", "KS 2022/1", "--on", "2022-06-20"),
    ("party", "propose", KEY, "2380", "--body", "KSAU", "--paragraph", "§ 1", "--on", "2022-06-20"),
    ("withdraw", KEY, "--on", "2022-06-10", "--reason", "Ersatt."),
]


def _last_actor(db: str) -> str:
    events = ok("audit", "log", KEY, "--json", db=db).json()
    actor: str = events[-1]["payload"]["actor"]
    return actor


@pytest.mark.parametrize("value", list(BAD.values()), ids=list(BAD))
def test_a_bad_actor_option_is_refused_and_nothing_is_written(recommended: str, value: str) -> None:
    result = refused(*DECIDE, "--actor", value, db=recommended)
    assert result.stderr.startswith("error: --actor "), result.stderr
    assert "never a name or an e-mail address" in result.stderr


@pytest.mark.parametrize("value", list(BAD.values()), ids=list(BAD))
def test_a_bad_actor_in_the_environment_is_refused_and_nothing_is_written(
    recommended: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Click reads an empty variable as unset; beslut refuses it instead of quietly recording ``cli``."""
    monkeypatch.setenv("BESLUT_ACTOR", value)
    result = refused(*DECIDE, db=recommended)
    assert result.stderr.startswith("error: BESLUT_ACTOR "), result.stderr


def test_every_writing_command_refuses_a_name(recommended: str, subtests: pytest.Subtests) -> None:
    for args in WRITERS:
        with subtests.test(" ".join(args[:2])):
            refused(*args, "--actor", "Anna Andersson", db=recommended)


def test_propose_refuses_a_name(db: str) -> None:
    refused("propose", str(SPEC_2022), "--on", "2022-06-03", "--actor", "anna@example.se", db=db)


def test_the_option_wins_over_a_bad_environment(recommended: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit good --actor is what acts; the environment is not read then."""
    monkeypatch.setenv("BESLUT_ACTOR", "Anna Andersson")
    ok(*DECIDE, "--actor", "handl:7", db=recommended)
    assert "handl:7" == _last_actor(recommended)


def test_the_option_id_reaches_the_log(recommended: str) -> None:
    ok(*DECIDE, "--actor", "registrator.2380:anna_7-b", db=recommended)
    assert "registrator.2380:anna_7-b" == _last_actor(recommended)


def test_the_environment_id_reaches_the_log(recommended: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BESLUT_ACTOR", "u.42")
    ok(*DECIDE, db=recommended)
    assert "u.42" == _last_actor(recommended)


def test_an_id_of_64_characters_is_taken_whole(recommended: str) -> None:
    ok(*DECIDE, "--actor", "x" * 64, db=recommended)
    assert "x" * 64 == _last_actor(recommended)


def test_without_an_actor_the_cli_records_cli(recommended: str) -> None:
    ok(*DECIDE, db=recommended)
    assert "cli" == _last_actor(recommended)


class TestImport:
    def _steps(self, tmp_path: Path, **extra: str) -> Path:
        path = tmp_path / "steps.jsonl"
        step = {"action": "decide", "key": KEY, "party": "2380", "on": "2022-09-05", "outcome": "approved"}
        lines = [{**step, "paragraph": "§ 1"}, {**step, "party": "2309", "paragraph": "§ 2", **extra}]
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        return path

    def test_import_refuses_a_bad_actor(self, recommended: str, tmp_path: Path) -> None:
        refused("party", "import", str(self._steps(tmp_path)), "--actor", "Anna Andersson", db=recommended)

    def test_a_step_cannot_carry_its_own_actor(self, recommended: str, tmp_path: Path) -> None:
        """Not even an id: one actor per import, from --actor; the refusal names the line."""
        for value in ("Anna Andersson", "u.42"):
            result = refused("party", "import", str(self._steps(tmp_path, actor=value)), db=recommended)
            assert result.stderr.startswith("error: line 2: a step has no 'actor'"), result.stderr
            assert "Anna" not in result.stderr

    def test_the_import_records_its_actor_on_every_event(self, recommended: str, tmp_path: Path) -> None:
        ok("party", "import", str(self._steps(tmp_path)), "--actor", "import:registry-7", db=recommended)
        events = ok("audit", "log", KEY, "--json", db=recommended).json()
        assert ["import:registry-7"] * 2 == [e["payload"]["actor"] for e in events[-2:]]
