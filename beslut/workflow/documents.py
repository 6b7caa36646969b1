"""JSON documents of the read models besides `status`: timers, outbox rows, heartbeats, contacts, audit events.

Each is the shape its CLI command prints with ``--json`` and the HTTP API returns, built in
this one place so the two surfaces cannot drift apart. The keys are a public contract:
extend, never rename.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only types are needed here: a command that prints a document loads no more than it uses
    from beslut.states.audit_chain import AuditRecord
    from beslut.states.deadlines import DeadlineRow
    from beslut.states.records import Contact, Heartbeat, OutboxRecord
    from beslut.workflow.engine import Fired


def fired_json(fired: Fired) -> dict[str, Any]:
    """One timer a tick handled, as `tick --json` lists it under ``fired`` (and ``POST /scheduler/tick``)."""
    return {
        "recommendation": fired.deadline.recommendation,
        "party": fired.deadline.party,
        "kind": fired.deadline.kind,
        "due_at": fired.deadline.due_at.isoformat(),
        "status": fired.status,
        "events": [r.kind for r in fired.records],
        "messages": fired.messages,
        "skipped": fired.skipped,
    }


def deadline_json(row: DeadlineRow) -> dict[str, Any]:
    """One timer, as `deadlines --json` prints it."""
    return {
        "id": row.id,
        "recommendation": row.recommendation,
        "party": row.party,
        "kind": row.kind,
        "due_at": row.due_at.isoformat(),
        "status": row.status,
    }


def outbox_json(record: OutboxRecord) -> dict[str, Any]:
    """One outbox row, as `outbox --json` prints it."""
    return {
        "id": record.id,
        "recommendation": record.recommendation,
        "party": record.party,
        "kind": record.kind,
        "due_at": record.due_at.isoformat(),
        "status": record.status,
        "sent_at": record.sent_at.isoformat() if record.sent_at else None,
        "contact": record.contact_id or None,
        "attempts": record.attempts,
        "next_attempt_at": record.next_attempt_at.isoformat() if record.next_attempt_at else None,
        "last_error": record.last_error,
        "dedupe_key": record.dedupe_key,
    }


def heartbeat_json(beat: Heartbeat) -> dict[str, Any]:
    """One daemon's heartbeat, as `scheduler status --json` prints it."""
    return {
        "daemon_id": beat.daemon_id,
        "hostname": beat.hostname,
        "pid": beat.pid,
        "started_at": beat.started_at.isoformat(),
        "last_tick_at": beat.last_tick_at.isoformat() if beat.last_tick_at else None,
        "last_tick_handled": beat.last_tick_handled,
        "last_delivered": beat.last_delivered,
        "stopped_at": beat.stopped_at.isoformat() if beat.stopped_at else None,
        "last_tick_seconds": beat.last_tick_seconds,
        "last_tick_lag_seconds": beat.last_tick_lag_seconds,
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    """One contact, as `contact list --json` prints it."""
    return {
        "id": contact.id,
        "party": contact.party,
        "name": contact.name,
        "email": contact.email,
        "active": contact.active,
    }


def audit_record_json(record: AuditRecord) -> dict[str, Any]:
    """One audit event, as `audit log --json` prints it (a payload that is not JSON is shown as its text)."""
    document = dataclasses.asdict(record)
    with suppress(ValueError):
        document["payload"] = json.loads(record.payload)
    return document
