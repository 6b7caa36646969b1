"""The default notifier: one structured log line per message, nothing leaves the host."""

from __future__ import annotations

from typing import Any

import structlog

from beslut.scheduler.notifiers.base import Message


class LogNotifier:
    """Writes each message as one structlog event ``reminder``; never fails.

    The line carries ids only: the outbox id, kind, recommendation and party keys, the
    due instant, the recipient's ``contact_id`` and the dedupe key. It deliberately
    leaves out the recipient's name and e-mail address: log files are kept for a long
    time and copied to places the contact table is not, and personal data there could
    not be culled when the contact is. Look the contact up by id when you need them.
    """

    name = "log"

    def __init__(self, logger: Any = None) -> None:
        # Keep the lazy proxy (no .bind() here) so structlog's configuration, including
        # structlog.testing.capture_logs(), is looked up at each call.
        self._logger = logger if logger is not None else structlog.get_logger("beslut.scheduler.notifiers")

    def send(self, message: Message) -> None:
        """Log *message* as one ``reminder`` event."""
        self._logger.info(
            "reminder",
            notifier=self.name,
            outbox_id=message.outbox_id,
            kind=message.kind,
            recommendation=message.recommendation,
            party=message.party,
            due_at=message.due_at.isoformat(),
            reply_by=message.reply_by.isoformat() if message.reply_by else None,
            contact_id=message.recipient.contact_id,
            dedupe_key=message.dedupe_key,
        )
