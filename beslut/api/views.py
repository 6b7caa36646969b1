"""JSON documents the API hands out besides `status`: each the same shape its CLI command prints with ``--json``.

The shared shapes live in :mod:`beslut.workflow.documents` (used by the CLI too); only the
API token's document, which has no other reader, is built here.
"""

from __future__ import annotations

from typing import Any

from beslut.workflow.documents import (
    audit_record_json,
    contact_json,
    deadline_json,
    heartbeat_json,
    outbox_json,
)
from beslut.workflow.ports import ApiToken

__all__ = ["audit_record_json", "contact_json", "deadline_json", "heartbeat_json", "outbox_json", "token_json"]


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
