"""Human-readable output for the terminal (rich tables), kept apart from the commands.

Only the CLI and the demo use this; machines read the ``--json`` documents of
:mod:`beslut.states.views` instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich loads when a table is printed, not with every command that could print one
    from rich.console import Console
    from rich.table import Table

    from beslut.states.audit_chain import AuditRecord

_STATE_STYLE = {
    "pending": "dim",
    "preparing": "cyan",
    "proposed": "blue",
    "decided": "yellow",
    "announced": "yellow",
    "appealed": "red",
    "final": "green",
    "in_force": "bold green",
    "superseded": "dim",
    "withdrawn": "dim",
    "consolidated": "green",
    "recommended": "cyan",
}

_EVENT_TEXT = {
    "recommendation.proposed": "proposed",
    "recommendation.recommended": "recommended to the parties",
    "recommendation.withdrawn": "withdrawn",
    "recommendation.consolidated": "consolidated",
    "recommendation.in_force": "in force",
    "recommendation.recounted": "recounted",
    "recommendation.superseded": "superseded",
    "party.prepared": "case opened",
    "party.proposed": "proposal",
    "party.decided": "decided",
    "party.announced": "minutes announced",
    "party.appealed": "appealed",
    "party.appeal_dismissed": "appeal dismissed",
    "party.decision_annulled": "decision annulled",
    "party.final": "final (laga kraft)",
    "party.overdue": "OVERDUE",
    "party.minute_extract_received": "minute extract received",
}


def console() -> Console:
    """A console that does not wrap lines when output is piped."""
    from rich.console import Console  # noqa: PLC0415

    return Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 160)


def table_of(*columns: str, **options: Any) -> Table:
    """A rich table with these columns (rich is imported here, on first use)."""
    from rich.table import Table  # noqa: PLC0415

    return Table(*columns, **options)


def print_statuses(statuses: Iterable[dict[str, Any]], *, detailed: bool) -> None:
    """Print one table per recommendation (detailed) or one overview table.

    *statuses* may be a stream (every recommendation of a big database): the overview keeps one
    short row per recommendation, never the documents.
    """
    out = console()
    if not detailed:
        table = table_of(
            "key", "state", "outcome", "reply by", "decided", "overdue", "version", title="Recommendations"
        )
        for s in statuses:
            decided = sum(1 for p in s["parties"] if p["decided_on"] is not None)
            overdue = sum(1 for p in s["parties"] if p["overdue"])
            table.add_row(
                s["key"],
                _styled(s["state"]),
                s["outcome"] or "",
                s["reply_by"],
                f"{decided}/{len(s['parties'])}",
                str(overdue) if overdue else "",
                str(s["version"]),
            )
        out.print(table if table.row_count else "no recommendations yet")
        return
    shown = False
    for s in statuses:
        print_status(s, out)
        shown = True
    if not shown:
        out.print("no recommendations yet")


def print_status(s: dict[str, Any], out: Console | None = None) -> None:
    """Print one recommendation with a row per party."""
    out = out or console()
    header = f"[bold]{s['key']}[/bold] — {s['title']}\n"
    header += f"state {_styled(s['state'])}"
    if s["outcome"]:
        header += f" ({s['outcome']})"
    header += f" · {s['consolidation']} · reply by {s['reply_by']}"
    if s["in_force_on"]:
        header += f" · in force {s['in_force_on']}"
    if s["superseded_by"]:
        header += f" · superseded by {s['superseded_by']}"
    header += f" · version {s['version']}"
    if s.get("contested"):
        header += f"\n[red]contested[/red]: {', '.join(s['contested'])} (counted decision annulled, not decided anew)"
    if s.get("waiting_for_final"):
        header += f"\nwaiting for laga kraft: {', '.join(s['waiting_for_final'])}"
    out.print(header)
    columns = ("party", "name", "state", "outcome", "body §", "decided", "deadline", "overdue", "amount (SEK)")
    if len(s["parties"]) > LONG_TABLE:
        _print_plain(out, columns, list(_party_rows(s, styled=False)))
        return
    table = table_of(*columns)
    for row in _party_rows(s, styled=True):
        table.add_row(*row)
    out.print(table)


# Above this many rows a table is printed as plain aligned text: rich measures and wraps every cell
# (about 3 ms a row), which took 30 s for a recommendation with 10,000 parties.
LONG_TABLE = 200


def _party_rows(s: dict[str, Any], *, styled: bool) -> Iterable[tuple[str, ...]]:
    """One row of cells per party, and the total; with rich markup (colours) when *styled*."""
    for p in s["parties"]:
        body = f"{p['deciding_body']} {p['paragraph']}" if p["paragraph"] else ""
        yield (
            p["key"],
            p["name"],
            _styled(p["state"]) if styled else p["state"],
            p["outcome"] or "",
            body,
            _decided(p, styled=styled),
            p["deadline"],
            ("[red]yes[/red]" if styled else "yes") if p["overdue"] else "",
            _money(p["amount"]),
        )
    if s["total"] is not None:
        yield ("", "total", "", "", "", "", "", "", _money(s["total"]))


def _print_plain(out: Console, columns: Sequence[str], rows: Sequence[tuple[str, ...]]) -> None:
    """*rows* (plain text) in aligned columns, without rich's per-cell layout: linear and fast."""
    every = [tuple(columns), *rows]
    widths = [max(map(_width, column)) for column in zip(*every, strict=True)]
    lines = (
        "  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in every
    )
    out.file.write("\n".join(lines) + "\n")


def _width(cell: str) -> int:
    """Terminal columns of *cell* (rich's measure only when it is not ASCII: most cells are)."""
    if cell.isascii():
        return len(cell)
    from rich.cells import cell_len  # noqa: PLC0415 - rich loads when a table is printed

    return cell_len(cell)


def _decided(party: dict[str, Any], *, styled: bool = True) -> str:
    """The decision day, and how many days after the reply date it came when late."""
    if not party["decided_on"]:
        return ""
    days = party.get("days_late")
    if not days:
        return str(party["decided_on"])
    late = f"({days} {'day' if days == 1 else 'days'} late)"
    return f"{party['decided_on']} " + (f"[red]{late}[/red]" if styled else late)


def print_log(records: Iterable[AuditRecord]) -> None:
    """Print the audit log as a table: seq, legal date, recorded time, stream, what."""
    out = console()
    table = table_of("seq", "valid on", "recorded at", "recommendation", "event", "details", "hash")
    for r in records:
        payload = json.loads(r.payload)
        table.add_row(str(r.seq), r.valid_on, r.recorded_at[:19], r.stream, r.kind, describe(payload), r.hash[:12])
    out.print(table)


def describe(payload: dict[str, Any]) -> str:
    """A short reading of an event payload for people."""
    parts = []
    names = ("party", "changed", "outcome", "body", "paragraph", "case_number", "by", "appeal_last_day", "days_late")
    for name in names:
        if name in payload:
            parts.append(f"{name}={payload[name]}")
    if "participants" in payload:
        parts.append(f"participants={len(payload['participants'])}")
    if payload.get("contested"):
        parts.append(f"contested={','.join(payload['contested'])}")
    return " ".join(parts)


def event_text(kind: str) -> str:
    """A person's word for an event kind."""
    return _EVENT_TEXT.get(kind, kind)


def _styled(state: str) -> str:
    style = _STATE_STYLE.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def _money(amount: str | None) -> str:
    if amount is None:
        return ""
    whole, _, cents = amount.partition(".")
    grouped = f"{int(whole):,}".replace(",", " ")
    return f"{grouped}.{cents}" if cents else grouped


def print_rows(rows: Sequence[dict[str, Any]], *, title: str, empty: str) -> None:
    """Print a list of flat records as a table."""
    out = console()
    if not rows:
        out.print(empty)
        return
    table = table_of(*rows[0].keys(), title=title)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row.values()))
    out.print(table)
