"""`beslut demo`: the 2022 Mini-Maria case and its 2025 revision, played end to end.

The recommendation texts, dates of SVOM's recommendations, the budget, the split
and the populations follow ../shared/domain.md; the parties' own dates, case
numbers, paragraphs and bodies are illustrative (minutes of all nine parties were
not at hand). The demo drives the same :class:`~beslut.Engine` the CLI uses, on
an embedded SQLite file, and prints a timeline and the status of both.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from beslut.clock import STOCKHOLM
from beslut.errors import InvalidInput
from beslut.render import console, event_text, print_status
from beslut.states.views import case_status
from beslut.workflow import Engine

KEY_2022 = "svom-2022-mini-maria"
KEY_2025 = "svom-2025-mini-maria-revision"


@dataclass(frozen=True)
class PartyPlan:
    """One party's illustrative path through its decision."""

    party: str
    prepared: tuple[date, str] | None
    proposed: tuple[date, str, str] | None
    decided: tuple[date, str, str]
    announced: date
    reported: date | None
    conditions: str | None = None


PLAN_2022 = [
    PartyPlan(
        "2380",
        (date(2022, 6, 20), "KS 2022/301"),
        (date(2022, 8, 23), "KSAU", "§ 121"),
        (date(2022, 9, 5), "approved", "§ 164"),
        date(2022, 9, 8),
        date(2022, 9, 12),
    ),
    PartyPlan(
        "2309",
        (date(2022, 6, 15), "KS 2022/188"),
        (date(2022, 8, 24), "KS", "§ 140"),
        (date(2022, 9, 21), "approved", "§ 77"),
        date(2022, 9, 26),
        date(2022, 9, 28),
    ),
    PartyPlan(
        "2321",
        (date(2022, 6, 22), "KS 2022/259"),
        None,
        (date(2022, 8, 30), "approved_with_conditions", "§ 190"),
        date(2022, 9, 2),
        date(2022, 9, 5),
        "Under förutsättning att samtliga parter fattar likalydande beslut.",
    ),
    PartyPlan(
        "2313",
        (date(2022, 8, 8), "KS 2022/402"),
        None,
        (date(2022, 9, 13), "approved", "§ 211"),
        date(2022, 9, 15),
        date(2022, 9, 19),
    ),
    PartyPlan(
        "2361",
        (date(2022, 6, 28), "KS 2022/333"),
        (date(2022, 8, 30), "KS", "§ 203"),
        (date(2022, 9, 14), "approved", "§ 96"),
        date(2022, 9, 19),
        None,
    ),
    PartyPlan(
        "2326",
        (date(2022, 8, 15), "KS 2022/145"),
        None,
        (date(2022, 9, 6), "approved", "§ 118"),
        date(2022, 9, 9),
        date(2022, 9, 14),
    ),
    PartyPlan("2305", None, None, (date(2022, 9, 20), "approved", "§ 154"), date(2022, 9, 22), date(2022, 9, 27)),
    PartyPlan(
        "region-jh",
        (date(2022, 6, 10), "RS/1234/2022"),
        None,
        (date(2022, 9, 27), "approved", "§ 250"),
        date(2022, 9, 29),
        date(2022, 9, 30),
    ),
]
# Ragunda misses the reply date; its decision comes after the overdue mark.
LATE_2022 = PartyPlan(
    "2303",
    (date(2022, 8, 29), "KS 2022/210"),
    (date(2022, 9, 27), "KS", "§ 133"),
    (date(2022, 10, 10), "approved", "§ 71"),
    date(2022, 10, 12),
    date(2022, 10, 14),
)

PLAN_2025 = [
    # The officer's report, SAU § 52 and KS 2025/216 are from domain.md; the decision itself is illustrative.
    PartyPlan(
        "2380",
        (date(2025, 3, 26), "KS 2025/216"),
        (date(2025, 4, 30), "SAU", "§ 52"),
        (date(2025, 5, 13), "approved", "§ 98"),
        date(2025, 5, 16),
        date(2025, 5, 19),
    ),
    PartyPlan("2309", None, None, (date(2025, 4, 22), "approved", "§ 41"), date(2025, 4, 24), date(2025, 4, 28)),
    PartyPlan("2321", None, None, (date(2025, 5, 6), "approved", "§ 102"), date(2025, 5, 8), date(2025, 5, 12)),
    PartyPlan("2313", None, None, (date(2025, 5, 20), "approved", "§ 118"), date(2025, 5, 22), date(2025, 5, 26)),
    PartyPlan("2361", None, None, (date(2025, 6, 2), "approved", "§ 55"), date(2025, 6, 4), date(2025, 6, 9)),
    PartyPlan("2326", None, None, (date(2025, 4, 29), "approved", "§ 77"), date(2025, 5, 2), date(2025, 5, 5)),
    PartyPlan("2305", None, None, (date(2025, 5, 27), "approved", "§ 91"), date(2025, 5, 28), date(2025, 6, 2)),
    PartyPlan("2303", None, None, (date(2025, 6, 10), "approved", "§ 44"), date(2025, 6, 12), date(2025, 6, 13)),
    PartyPlan(
        "region-jh",
        (date(2025, 3, 14), "RS/512/2025"),
        None,
        (date(2025, 6, 3), "approved", "§ 140"),
        date(2025, 6, 5),
        date(2025, 6, 9),
    ),
]


def example_spec(name: str) -> str:
    """The text of a shipped example spec (inside the wheel, or the repository's examples/)."""
    for folder in (Path(__file__).parent / "examples", Path(__file__).resolve().parent.parent / "examples"):
        candidate = folder / name
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError(name)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=STOCKHOLM)


def _play_party(engine: Engine, key: str, plan: PartyPlan) -> None:
    if plan.prepared:
        engine.prepare(key, plan.party, case_number=plan.prepared[1], on=plan.prepared[0])
    if plan.proposed:
        engine.propose_party(key, plan.party, body=plan.proposed[1], paragraph=plan.proposed[2], on=plan.proposed[0])
    on, outcome, paragraph = plan.decided
    engine.decide(key, plan.party, outcome=outcome, paragraph=paragraph, on=on, conditions=plan.conditions)
    engine.announce(key, plan.party, on=plan.announced)
    if plan.reported:
        engine.report(key, plan.party, on=plan.reported)


def play(engine: Engine) -> None:
    """Run both recommendations through the engine."""
    engine.propose(example_spec("mini-maria-2022.toml"), on=date(2022, 6, 3))
    engine.recommend(KEY_2022, on=date(2022, 6, 3))
    for plan in PLAN_2022:
        _play_party(engine, KEY_2022, plan)
    engine.appeal(KEY_2022, "2326", on=date(2022, 9, 20))  # someone in Berg appeals (KL 13)
    engine.tick(_at(date(2022, 10, 1)))  # Ragunda is overdue
    _play_party(engine, KEY_2022, LATE_2022)
    engine.consolidate(KEY_2022, on=date(2022, 10, 17))
    engine.tick(_at(date(2022, 11, 7)))  # appeal periods end: laga kraft
    engine.settle(KEY_2022, "2326", result="dismissed", on=date(2022, 11, 28))
    engine.tick(_at(date(2023, 1, 1)))  # the agreement comes into force

    engine.propose(example_spec("mini-maria-2025.toml"), on=date(2025, 3, 7))
    engine.recommend(KEY_2025, on=date(2025, 3, 7))
    for plan in PLAN_2025:
        _play_party(engine, KEY_2025, plan)
    engine.consolidate(KEY_2025, on=date(2025, 6, 23))
    engine.tick(_at(date(2025, 9, 1)))  # laga kraft, then in force; the 2022 agreement is superseded


def run_demo(db: str | None) -> Path:
    """Play the demo into *db* (a new file) and print what happened; return the file's path."""
    path = Path(db) if db else Path(tempfile.mkdtemp(prefix="beslut-demo-")) / "beslut-demo.db"
    if path.exists():
        raise InvalidInput(f"{path} exists: the demo writes a new database; choose another --db")
    if not path.parent.is_dir():
        raise InvalidInput(f"directory {path.parent} does not exist")
    engine = Engine.open(path, actor="demo")
    try:
        engine.init()
        play(engine)
        _print(engine, path)
    finally:
        engine.close()
    return path


def _print(engine: Engine, path: Path) -> None:
    out = console()
    out.print("[bold]Mini-Maria Jämtland, 2022 and the 2025 revision[/bold]")
    out.print(
        "SVOM's dates, the budget, the split and the populations are the real ones; "
        "[italic]the parties' dates, case numbers and paragraphs are illustrative[/italic].\n"
    )
    names = {p.key: p.name for c in engine.cases() for p in c.spec.parties}
    for key in (KEY_2022, KEY_2025):
        out.print(f"[bold]Timeline of {key}[/bold] (legal date · what · recorded as audit seq)")
        records = sorted(engine.audit_log(key), key=lambda r: (r.valid_on, r.seq))
        for r in records:
            payload = json.loads(r.payload)
            who = names.get(payload.get("party", ""), "")
            extra = " ".join(
                str(payload[k]) for k in ("outcome", "body", "paragraph", "case_number", "by") if k in payload
            )
            out.print(f"  {r.valid_on}  {event_text(r.kind):<24} {who:<27} {extra}  [dim]#{r.seq}[/dim]")
        out.print("")
    for key in (KEY_2022, KEY_2025):
        print_status(case_status(engine.case(key)), out)
        out.print("")
    report = engine.verify_audit()
    out.print(f"audit log: {'ok' if report.ok else 'BROKEN'}, {report.events} events, head {report.head_hash[:16]}…")
    out.print(f"database: {path}\ntry: {_command_name()} status {KEY_2022} --db {path}")


def _command_name() -> str:
    """How the user can call `beslut` again: on PATH, or beside this Python (a virtualenv)."""
    if shutil.which("beslut"):
        return "beslut"
    beside = Path(sys.executable).parent / "beslut"
    return str(beside) if beside.exists() else "beslut"
