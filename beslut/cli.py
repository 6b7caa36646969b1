"""The `beslut` command line: a thin layer over :class:`beslut.Engine`.

Each command parses its arguments, calls one engine method and prints the
result. Refusals are the engine's exceptions, printed as one ``error:`` line on
stderr with the exit code their class carries (2 refused, 3 conflict, 4 audit
failure); usage errors from Typer/Click are folded into the same one-line form.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from beslut import render
from beslut.clock import STOCKHOLM
from beslut.errors import BeslutError, InvalidInput, NotFound, Refusal
from beslut.persistence import DEFAULT_DATABASE, open_store
from beslut.workflow import CommandResult, Engine
from beslut.workflow.views import case_status

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Follow a recommendation that many independent parties must each decide on.",
)
party_app = typer.Typer(
    no_args_is_help=True, help="Record a party's steps: prepare, propose, decide, announce, appeal, settle, report."
)
audit_app = typer.Typer(no_args_is_help=True, help="Read and verify the hash-chained audit log.")
app.add_typer(party_app, name="party")
app.add_typer(audit_app, name="audit")

Db = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="BESLUT_DB", help=f"Database: a file path or SQLAlchemy URL [default: {DEFAULT_DATABASE}]"
    ),
]
On = Annotated[str, typer.Option("--on", help="The legal date of the act, YYYY-MM-DD.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Expect = Annotated[
    int | None, typer.Option("--expect-version", help="Refuse (exit 3) unless the recommendation is at this version.")
]
Actor = Annotated[
    str | None,
    typer.Option(
        "--actor", envvar="BESLUT_ACTOR", help="Id of who acts, recorded in the audit log (an id, never a name)."
    ),
]
Key = Annotated[str, typer.Argument(help="The recommendation's key.")]
Party = Annotated[str, typer.Argument(help="The party's key.")]


def parse_date(value: str, option: str = "--on") -> date:
    """An ISO date, or a one-line refusal naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_instant(value: str, option: str = "--now") -> datetime:
    """An ISO instant; without an offset it is Europe/Stockholm local time; a bare date means 00:00."""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date-time (YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=STOCKHOLM)
    return instant


def _engine(db: str | None, actor: str | None = None, *, must_exist: bool = True) -> Engine:
    target = db or os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    if must_exist and "://" not in target and not Path(target).is_file():
        # Opening an SQLite path creates the file; a read or a refused command must not.
        raise NotFound(f"database {target} does not exist: run `beslut init` first")
    store = open_store(target)
    if must_exist and not store.is_initialised():
        store.close()
        raise NotFound(f"database {_describe(db)} is not initialised: run `beslut init` first")
    return Engine(store, actor=actor or "cli")


def _describe(db: str | None) -> str:
    store_target = db or DEFAULT_DATABASE
    return store_target.split("@")[-1] if "://" in store_target else store_target


def _done(engine: Engine, result: CommandResult, what: str) -> None:
    engine.close()
    typer.echo(f"{result.case.key}: {what} (version {result.version})")


def _emit_json(document: Any) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- set-up


@app.command()
def init(db: Db = None) -> None:
    """Create the database schema (tables and the audit log's append-only triggers)."""
    target = db
    if target is not None and "://" not in target and not Path(target).parent.exists():
        raise InvalidInput(f"directory {Path(target).parent} does not exist")
    engine = _engine(target, must_exist=False)
    created = engine.init()
    engine.close()
    typer.echo(f"initialised {_describe(target)}" if created else f"{_describe(target)} was already initialised")


# ---------------------------------------------------------------- recommendation


@app.command()
def propose(
    spec: Annotated[Path, typer.Argument(help="The recommendation spec (TOML).")],
    on: Annotated[str | None, typer.Option("--on", help="The legal date of the proposal [default: today].")] = None,
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Register a new recommendation from a TOML spec."""
    legal_date = parse_date(on) if on is not None else None
    try:
        text = spec.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read spec {spec}: {error}") from None
    engine = _engine(db, actor)
    result = engine.propose(text, on=legal_date)
    _done(engine, result, f"proposed with {len(result.case.parties)} parties, reply by {result.case.reply_deadline}")


@app.command()
def recommend(key: Key, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None) -> None:
    """Send the recommendation to the parties: their decisions open."""
    engine = _engine(db, actor)
    _done(engine, engine.recommend(key, on=parse_date(on), expected_version=expect_version), "recommended")


@app.command()
def withdraw(
    key: Key,
    on: On,
    reason: Annotated[str, typer.Option("--reason", help="Why it is withdrawn.")],
    db: Db = None,
    expect_version: Expect = None,
    actor: Actor = None,
) -> None:
    """Withdraw a proposed or recommended recommendation."""
    engine = _engine(db, actor)
    result = engine.withdraw(key, on=parse_date(on), reason=reason, expected_version=expect_version)
    _done(engine, result, "withdrawn")


@app.command()
def consolidate(key: Key, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None) -> None:
    """Count the parties' decisions under the recommendation's policy."""
    engine = _engine(db, actor)
    result = engine.consolidate(key, on=parse_date(on), expected_version=expect_version)
    extra = f", in force since {result.case.in_force_since}" if result.case.in_force_since else ""
    _done(engine, result, f"consolidated: {result.case.outcome}{extra}")


@app.command()
def tick(
    now: Annotated[
        str, typer.Option("--now", help="The instant to fire deadlines at (ISO 8601; local time if no offset).")
    ],
    db: Db = None,
    json_output: Json = False,
) -> None:
    """Fire every automatic transition due at NOW (overdue, laga kraft, in force); idempotent."""
    engine = _engine(db)
    fired = engine.tick(parse_instant(now))
    engine.close()
    if json_output:
        _emit_json(
            {
                "fired": [
                    {
                        "recommendation": f.deadline.recommendation,
                        "party": f.deadline.party,
                        "kind": f.deadline.kind,
                        "due_at": f.deadline.due_at.isoformat(),
                        "status": f.status,
                        "events": [r.kind for r in f.records],
                    }
                    for f in fired
                ]
            }
        )
        return
    for f in fired:
        who = f" {f.deadline.party}" if f.deadline.party else ""
        kinds = ", ".join(r.kind for r in f.records) or "nothing left to do"
        typer.echo(f"{f.deadline.due_at.isoformat()} {f.deadline.recommendation}{who} {f.deadline.kind}: {kinds}")
    typer.echo(f"{len(fired)} deadline(s) handled")


@app.command()
def status(
    key: Annotated[str | None, typer.Argument(help="One recommendation; all when omitted.")] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """Show where a recommendation (or every one) stands, party by party, with each share of the cost."""
    engine = _engine(db)
    cases = [engine.case(key)] if key is not None else engine.cases()
    engine.close()
    if json_output:
        _emit_json(case_status(cases[0]) if key is not None else {"recommendations": [case_status(c) for c in cases]})
        return
    render.print_statuses([case_status(c) for c in cases], detailed=key is not None)


# ---------------------------------------------------------------- party steps


@party_app.command("prepare")
def party_prepare(
    key: Key,
    party: Party,
    case: Annotated[str, typer.Option("--case", help='The case number (diarienummer), e.g. "KS 2025/216".')],
    on: On,
    db: Db = None,
    expect_version: Expect = None,
    actor: Actor = None,
) -> None:
    """The party opened its case (diarienummer; the date of the officer's report)."""
    engine = _engine(db, actor)
    result = engine.prepare(key, party, case_number=case, on=parse_date(on), expected_version=expect_version)
    _done(engine, result, f"{party} preparing ({case})")


@party_app.command("propose")
def party_propose(
    key: Key,
    party: Party,
    body: Annotated[str, typer.Option("--body", help="The proposing committee, e.g. SAU.")],
    paragraph: Annotated[str, typer.Option("--paragraph", help='Its minute paragraph, e.g. "§ 52".')],
    on: On,
    db: Db = None,
    expect_version: Expect = None,
    actor: Actor = None,
) -> None:
    """A committee of the party proposed a decision."""
    engine = _engine(db, actor)
    result = engine.propose_party(
        key, party, body=body, paragraph=paragraph, on=parse_date(on), expected_version=expect_version
    )
    _done(engine, result, f"{party} proposed by {body} {paragraph}")


@party_app.command("decide")
def party_decide(
    key: Key,
    party: Party,
    outcome: Annotated[str, typer.Option("--outcome", help="approved | rejected | approved_with_conditions")],
    paragraph: Annotated[str, typer.Option("--paragraph", help='The minute paragraph, e.g. "§ 88".')],
    on: On,
    conditions: Annotated[
        str | None, typer.Option("--conditions", help="The conditions (with approved_with_conditions).")
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="The deciding body [default: the party's, from the spec].")
    ] = None,
    db: Db = None,
    expect_version: Expect = None,
    actor: Actor = None,
) -> None:
    """The party's deciding body decided."""
    engine = _engine(db, actor)
    result = engine.decide(
        key,
        party,
        outcome=outcome,
        paragraph=paragraph,
        on=parse_date(on),
        body=body,
        conditions=conditions,
        expected_version=expect_version,
    )
    _done(engine, result, f"{party} decided: {outcome}")


@party_app.command("announce")
def party_announce(
    key: Key, party: Party, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None
) -> None:
    """The signed minutes were announced on the notice board: the three-week appeal period starts."""
    engine = _engine(db, actor)
    result = engine.announce(key, party, on=parse_date(on), expected_version=expect_version)
    _done(engine, result, f"{party} announced; appeal period ends {result.case.party(party).appeal_last_day}")


@party_app.command("appeal")
def party_appeal(
    key: Key, party: Party, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None
) -> None:
    """An appeal (laglighetsprövning) against the party's decision was lodged."""
    engine = _engine(db, actor)
    _done(engine, engine.appeal(key, party, on=parse_date(on), expected_version=expect_version), f"{party} appealed")


@party_app.command("settle")
def party_settle(
    key: Key,
    party: Party,
    result: Annotated[str, typer.Option("--result", help="dismissed (decision stands) | annulled (decide again)")],
    on: On,
    db: Db = None,
    expect_version: Expect = None,
    actor: Actor = None,
) -> None:
    """The court ruled on the appeal."""
    engine = _engine(db, actor)
    outcome = engine.settle(key, party, result=result, on=parse_date(on), expected_version=expect_version)
    _done(engine, outcome, f"{party} appeal {result}")


@party_app.command("report")
def party_report(
    key: Key, party: Party, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None
) -> None:
    """The coordinator received the party's minute extract (protokollsutdrag)."""
    engine = _engine(db, actor)
    _done(
        engine,
        engine.report(key, party, on=parse_date(on), expected_version=expect_version),
        f"{party} minute extract received",
    )


# ---------------------------------------------------------------- audit


@audit_app.command("verify")
def audit_verify(db: Db = None, json_output: Json = False) -> None:
    """Recompute the hash chain; exit 0 when it holds, 4 naming the first bad seq when it does not."""
    engine = _engine(db)
    report = engine.verify_audit()
    engine.close()
    if json_output:
        _emit_json(report.as_dict())
    elif report.ok:
        typer.echo(f"ok: {report.events} events, head seq {report.head_seq}, hash {report.head_hash}")
    if not report.ok:
        typer.echo(f"error: audit log broken at seq {report.first_bad_seq}: {report.problem}", err=True)
        raise typer.Exit(4)


@audit_app.command("log")
def audit_log(
    key: Annotated[str | None, typer.Argument(help="One recommendation; all when omitted.")] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """The audit events, oldest first."""
    engine = _engine(db)
    records = engine.audit_log(key)
    engine.close()
    if json_output:
        _emit_json([r.as_dict() for r in records])
        return
    render.print_log(records)


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    db: Annotated[
        str | None, typer.Option("--db", help="Where to write the demo database [default: a new temporary file].")
    ] = None,
) -> None:
    """Play the 2022 Mini-Maria case and its 2025 revision end to end on an embedded SQLite file."""
    from beslut.demo import run_demo  # noqa: PLC0415 - the demo is not loaded for other commands

    run_demo(db)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; refusals become one ``error:`` line on stderr and their exit code."""
    try:
        code = app(args=argv, standalone_mode=False, prog_name="beslut")
    except TyperException as error:  # usage errors: unknown option, missing argument, bad choice
        _fail(error.format_message(), 2)
    except typer.Abort:
        _fail("aborted", 130)
    except Refusal as error:
        _fail(str(error), error.exit_code)
    except BeslutError as error:
        _fail(str(error), error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    first_line = " ".join(message.split())
    print(f"error: {first_line}", file=sys.stderr)
    sys.exit(code)
