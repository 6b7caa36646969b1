"""What a notifier is given and what it promises: one message in, delivered or a DeliveryError out.

The outbox (beslut/scheduler) owns retries, backoff and exactly-once bookkeeping; a
notifier only tries to deliver one message, once, and says whether it worked.
Recipients are contacts referenced by id in the audit log; their name and address
travel only here, on the way out, never into the hashed payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

MessageKind = Literal["before", "overdue", "escalation", "digest"]


class DeliveryError(Exception):
    """The message could not be delivered now; the outbox keeps it and retries later.

    ``permanent`` is a hint for the outbox: ``True`` when retrying the same message
    cannot help (the recipient has no e-mail address, the server refused the address
    with a 5xx reply); ``False`` (the default) for a server that is down, a timeout or
    a 5xx from a webhook receiver, which may well work on the next attempt.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self),), {"permanent": self.permanent})


@dataclass(frozen=True, kw_only=True)
class Recipient:
    """A contact: who receives a message (a clerk of a party, or the coordinator)."""

    contact_id: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class Message:
    """One outgoing message, as stored in the outbox.

    ``dedupe_key`` is the outbox's uniqueness key (recommendation, party, kind, due
    instant): a receiver can use it to drop a repeat after a crash between delivery
    and marking the row sent.
    """

    outbox_id: int
    kind: MessageKind
    recommendation: str
    recommendation_title: str
    party: str | None
    party_name: str | None
    due_at: datetime
    reply_by: date | None
    recipient: Recipient
    dedupe_key: str
    details: Mapping[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    """Delivers one message or raises :class:`DeliveryError`."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver *message* once; raise DeliveryError if it did not go out."""
        ...
