"""`beslut party …`: a party's steps towards its decision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from beslut.cli._app import party_app
from beslut.cli._options import (
    Actor,
    Db,
    Expect,
    Key,
    On,
    Party,
    done,
    open_engine,
    parse_date,
)
from beslut.workflow.steps_file import read_steps

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
    engine = open_engine(db, actor)
    result = engine.prepare(key, party, case_number=case, on=parse_date(on), expected_version=expect_version)
    done(engine, result, f"{party} preparing ({case})")


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
    engine = open_engine(db, actor)
    result = engine.propose_party(
        key, party, body=body, paragraph=paragraph, on=parse_date(on), expected_version=expect_version
    )
    done(engine, result, f"{party} proposed by {body} {paragraph}")


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
    engine = open_engine(db, actor)
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
    done(engine, result, f"{party} decided: {outcome}")


@party_app.command("announce")
def party_announce(
    key: Key, party: Party, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None
) -> None:
    """The signed minutes were announced on the notice board: the three-week appeal period starts."""
    engine = open_engine(db, actor)
    result = engine.announce(key, party, on=parse_date(on), expected_version=expect_version)
    done(engine, result, f"{party} announced; appeal period ends {result.case.party(party).appeal_last_day}")


@party_app.command("appeal")
def party_appeal(
    key: Key, party: Party, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None
) -> None:
    """An appeal (laglighetsprövning) against the party's decision was lodged."""
    engine = open_engine(db, actor)
    done(engine, engine.appeal(key, party, on=parse_date(on), expected_version=expect_version), f"{party} appealed")


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
    engine = open_engine(db, actor)
    outcome = engine.settle(key, party, result=result, on=parse_date(on), expected_version=expect_version)
    done(engine, outcome, f"{party} appeal {result}")


@party_app.command("report")
def party_report(
    key: Key, party: Party, on: On, db: Db = None, expect_version: Expect = None, actor: Actor = None
) -> None:
    """The coordinator received the party's minute extract (protokollsutdrag)."""
    engine = open_engine(db, actor)
    done(
        engine,
        engine.report(key, party, on=parse_date(on), expected_version=expect_version),
        f"{party} minute extract received",
    )


@party_app.command("import")
def party_import(
    file: Annotated[Path, typer.Argument(help="JSON Lines (or .csv with a header row): one party step a line.")],
    db: Db = None,
    actor: Actor = None,
) -> None:
    """Run many party steps in ONE transaction: all of them, or (one refused) none.

    Each line is a step with its own `on`: {"action": "decide", "key": ..., "party": ...,
    "on": "2025-05-20", "outcome": "approved", "paragraph": "§ 88"}; fields as the single
    commands' options (case_number for prepare's --case), expected_version optional.
    """
    steps = read_steps(file)
    engine = open_engine(db, actor, pause_gc=True)  # this process is the batch's own: the GC pause disturbs no host
    result = engine.batch(steps)
    engine.close()
    typer.echo(f"{len(steps)} steps on {len(result.cases)} recommendations ({len(result.records)} audit events)")
