"""The human-readable case report of an archive package: one self-contained HTML page.

Built from the events alone (the recommendation replayed from its stream) so it shows
what the log proves: the timeline of every event with its legal date and the instant it
was recorded, each party's decision, and the allocation of the cost. No scripts, no
external resources; every value is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from beslut.states.audit_chain import AuditRecord

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.9em; } .muted { color: #666; }
"""


def case_report(status: dict[str, Any], records: Sequence[AuditRecord], proof_note: str, created: str) -> str:
    """The HTML report of one recommendation (its `status --json` document, replayed) and its events."""
    s = status
    rows = [
        ("Key", s["key"]),
        ("Issuer", s["issuer"]),
        ("Coordinator", s["coordinator"]),
        ("State", s["state"] + (f" ({s['outcome']})" if s["outcome"] else "")),
        ("Consolidation", s["consolidation"]),
        ("Proposed", s["proposed_on"]),
        ("Recommended", s["recommended_on"]),
        ("Reply by", s["reply_by"]),
        ("Consolidated", s["consolidated_on"]),
        ("In force", s["in_force_since"] or s["in_force_on"]),
        ("Supersedes", s["supersedes"]),
        ("Superseded by", s["superseded_by"]),
        ("Withdrawn", s["withdrawn_on"]),
        ("Recounted", s.get("recounted_on")),
        ("Contested (decision annulled, not decided anew)", ", ".join(s.get("contested") or []) or None),
        ("Waiting for laga kraft", ", ".join(s.get("waiting_for_final") or []) or None),
        ("Version (events)", str(s["version"])),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        f"<title>{escape(s['key'])}: {escape(s['title'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(s['title'])}</h1>",
        f'<p class="muted">Case report made {escape(created)} from the audit log of <code>beslut</code>: '
        "every value below is rebuilt from the events in <code>events.jsonl</code>.</p>",
        _table(("", ""), [(k, v or "") for k, v in rows], header=False),
        "<h2>Decisions</h2>",
        _table(
            (
                "Party",
                "Name",
                "State",
                "Outcome",
                "Body §",
                "Case number",
                "Decided",
                "Announced",
                "Final",
                "Appeal",
                "Minute extract",
                "Overdue",
            ),
            [
                (
                    p["key"],
                    p["name"],
                    p["state"],
                    _outcome(p),
                    _body(p),
                    p["case_number"] or "",
                    p["decided_on"] or "",
                    p["announced_on"] or "",
                    p["final_on"] or "",
                    _appeal(p),
                    p["minute_extract_received_on"] or "",
                    "yes" if p["overdue"] else "",
                )
                for p in s["parties"]
            ],
        ),
    ]
    if s["total"] is not None:
        parts += [
            "<h2>Allocation of the cost (SEK)</h2>",
            _table(
                ("Party", "Name", "Amount"),
                [(p["key"], p["name"], p["amount"] or "0") for p in s["parties"]] + [("", "Total", s["total"])],
                numeric=frozenset({2}),
            ),
        ]
    parts += [
        "<h2>Timeline</h2>",
        "<p>Legal date: when the act took effect in law (the date given to the command). "
        "Recorded: when the system recorded it. A late registration has a recorded time long after its legal date.</p>",
        _table(
            ("Seq", "Stream seq", "Legal date", "Recorded", "Event", "Details", "Actor", "Hash"),
            [
                (
                    str(r.seq),
                    str(r.stream_seq),
                    r.valid_on,
                    r.recorded_at,
                    r.kind,
                    _details(r),
                    _actor(r),
                    r.hash[:16] + "…",
                )
                for r in records
            ],
        ),
        "<h2>Proof</h2>",
        f"<p>{escape(proof_note)}</p>",
        "<p>See <code>documentation/verify-offline.md</code> for how to check this package without the database.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], *, header: bool = True, numeric: frozenset[int] = frozenset()
) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            tag = "th" if not header and i == 0 else "td"
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<{tag}{cls}>{escape(str(cell))}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _outcome(p: dict[str, Any]) -> str:
    if p["outcome"] is None:
        return ""
    return str(p["outcome"]) + (f": {p['conditions']}" if p["conditions"] else "")


def _body(p: dict[str, Any]) -> str:
    return f"{p['deciding_body']} {p['paragraph']}" if p["paragraph"] else ""


def _appeal(p: dict[str, Any]) -> str:
    if p["appealed_on"] is None:
        return f"until {p['appeal_last_day']}" if p["appeal_last_day"] else ""
    return f"appealed {p['appealed_on']}" + (f", {p['settlement']} {p['settled_on']}" if p["settlement"] else "")


def _payload(record: AuditRecord) -> dict[str, Any]:
    try:
        value = json.loads(record.payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _details(record: AuditRecord) -> str:
    payload = _payload(record)
    if record.kind == "recommendation.proposed":
        return f"{len(payload.get('spec', {}).get('party', []) or [])} parties"
    shown = {k: v for k, v in payload.items() if k not in ("actor", "spec")}
    return ", ".join(f"{k}={v if not isinstance(v, list) else ' '.join(map(str, v))}" for k, v in shown.items())


def _actor(record: AuditRecord) -> str:
    return str(_payload(record).get("actor", ""))
