"""`beslut scheduler …`, `beslut outbox`, `beslut deadlines` and `beslut contact …`: running and watching the timers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from beslut import render
from beslut.cli._app import app, contact_app, scheduler_app
from beslut.cli._interrupt import removed_if_interrupted
from beslut.cli._options import Db, Json, emit_json, open_engine
from beslut.errors import InvalidInput
from beslut.states.records import Contact
from beslut.workflow.documents import contact_json, deadline_json, heartbeat_json, outbox_json


@scheduler_app.command("run")
def scheduler_run(
    config: Annotated[Path | None, typer.Option("--config", help="The daemon's TOML config file.")] = None,
    tick: Annotated[float | None, typer.Option("--tick", help="Seconds between ticks (overrides the config).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Tick and deliver once, then exit (for cron).")] = False,
    db: Db = None,
) -> None:
    """Run the scheduler daemon in the foreground: fire timers, deliver the outbox, log JSON lines."""
    from beslut.clock import SystemClock  # noqa: PLC0415 - the daemon's imports stay out of other commands
    from beslut.logs import configure_json_logging  # noqa: PLC0415
    from beslut.scheduler.daemon import SchedulerDaemon  # noqa: PLC0415
    from beslut.scheduler.notifiers.config import load_notifier, read_config_file  # noqa: PLC0415
    from beslut.scheduler.outbox import OutboxDelivery  # noqa: PLC0415
    from beslut.scheduler.settings import daemon_settings  # noqa: PLC0415

    raw = read_config_file(config) if config is not None else {}
    settings = daemon_settings(raw, tick_seconds=tick)
    notifier = load_notifier(raw)
    engine = open_engine(db, "scheduler")
    configure_json_logging()
    delivery = OutboxDelivery(
        engine.store,
        notifier,
        clock=SystemClock(),
        worker=settings.resolved_id(),
        lease=timedelta(seconds=settings.lease_seconds),
    )
    daemon = SchedulerDaemon(engine, delivery, settings)
    if once:
        handled, sent, failed, skipped = daemon.run_once()
        typer.echo(f"{handled} timer(s) handled, {sent} message(s) sent, {failed} failed, {skipped} no longer due")
        return
    raise typer.Exit(daemon.run())


@scheduler_app.command("status")
def scheduler_status(db: Db = None, json_output: Json = False) -> None:
    """Show each daemon's last heartbeat: is it alive, when did it last tick."""
    beats = open_engine(db).heartbeats()
    rows = [heartbeat_json(b) for b in beats]
    if json_output:
        emit_json({"daemons": rows})
        return
    render.print_rows(rows, title="Scheduler daemons", empty="no daemon has run yet")


@app.command()
def outbox(
    status: Annotated[str | None, typer.Option("--status", help="queued | sent | failed | skipped")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many rows.")] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """List outgoing messages (reminders, escalations, digests) and how their delivery went."""
    records = open_engine(db).outbox(status=status, limit=limit)
    rows = [outbox_json(r) for r in records]
    if json_output:
        emit_json(rows)
        return
    shown = ["id", "due_at", "recommendation", "party", "kind", "contact", "status", "attempts", "last_error"]
    render.print_rows([{k: r[k] for k in shown} for r in rows], title="Outbox", empty="the outbox is empty")


@app.command()
def deadlines(
    key: Annotated[str | None, typer.Argument(help="One recommendation; all when omitted.")] = None,
    ics: Annotated[
        Path | None, typer.Option("--ics", help="Also write an iCalendar file clerks can subscribe to.")
    ] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """List upcoming deadlines and reminders (pending timers), soonest first."""
    engine = open_engine(db)
    if key is not None:
        engine.case(key)  # refuse an unknown key
    rows = engine.deadlines(status="pending", key=key)
    if ics is not None:
        from beslut.scheduler.ics import calendar_bytes  # noqa: PLC0415

        if not ics.parent.is_dir():
            raise InvalidInput(f"--ics: directory {ics.parent} does not exist")
        cases = {c.key: c for c in engine.cases()}
        try:
            part = ics.with_name(ics.name + ".part")  # replaced in one step: never a half-written calendar
            with removed_if_interrupted(part):
                part.write_bytes(calendar_bytes(rows, cases, engine.clock.now()))
                part.replace(ics)
        except OSError as error:  # a directory, a name too long, no permission, a full disk
            raise InvalidInput(f"--ics: cannot write {ics}: {error.strerror or error}") from None
    if json_output:
        emit_json([deadline_json(r) for r in rows])
        return
    render.print_rows([deadline_json(r) for r in rows], title="Deadlines", empty="no pending deadlines")


@contact_app.command("add")
def contact_add(
    party: Annotated[str, typer.Argument(help="The party's key.")],
    contact_id: Annotated[str, typer.Option("--id", help="The contact's id (what the audit and outbox refer to).")],
    name: Annotated[str | None, typer.Option("--name", help="The person's name.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Where reminders are e-mailed.")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="Keep the contact but send nothing.")] = False,
    db: Db = None,
) -> None:
    """Add or replace a contact who receives a party's reminders."""
    open_engine(db).add_contact(Contact(id=contact_id, party=party, name=name, email=email, active=not inactive))
    typer.echo(f"contact {contact_id} of {party} saved")


@contact_app.command("list")
def contact_list(db: Db = None, json_output: Json = False) -> None:
    """List the contacts."""
    rows = [contact_json(c) for c in open_engine(db).contacts()]
    if json_output:
        emit_json(rows)
        return
    render.print_rows(rows, title="Contacts", empty="no contacts")
