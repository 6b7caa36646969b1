"""JSON documents the API hands out besides `status`: each the same shape its CLI command prints with ``--json``.

The CLI's versions live in :mod:`beslut.cli` (``deadline_json``, ``outbox_json``, the
audit log's record dict), which the API may not import (nothing imports the CLI); the
keys here must stay the same as there (``scheduler status --json`` too), and tests/api compares them with the CLI's
output so a drift fails.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import suppress
from typing import Any

from beslut.persistence.abc import ApiToken
from beslut.scheduler.deadlines import DeadlineRow
from beslut.scheduler.records import Contact, Heartbeat, OutboxRecord
from beslut.states.audit_chain import AuditRecord


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


def token_json(token: ApiToken) -> dict[str, Any]:
    """One API token, as `token list --json` prints it: never its secret, nor even its hash."""
    return {
        "id": token.id,
        "actor": f"token:{token.id}",
        "role": token.role,
        "party": token.party,
        "label": token.label,
        "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }
