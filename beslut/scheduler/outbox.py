"""Delivering the outbox: after commit, at least once, retried with backoff, never blocking the rest.

A message is queued in the same transaction as the decision to send it (see
:mod:`beslut.states.reminders`). Delivery happens later and outside any
transaction: a worker leases a batch of due messages in one short transaction,
sends each through the notifier, and records the result in another. If the worker
dies between sending and recording, the lease runs out and another worker sends
again; that is the one window where a message can go out twice, and why every
message carries its dedupe key (Message-ID, ``X-Beslut-Delivery``) so a receiver
can drop the repeat. A failure is recorded on the row (``failed``, the error, the
next attempt) and the worker goes on with the next message; after
:data:`MAX_ATTEMPTS` the row stays ``failed`` with no next attempt, for an operator.

Each message is checked again just before it is sent, in the transaction that
re-leases it: that transaction locks the recommendation first (the lock order of
every command), applies :func:`~beslut.states.reminders.delivery_verdict` to the
case as it is now, and either renews the lease or closes the row unsent, ``skipped``
(the party has decided, the recommendation moved on) or ``failed`` (no contact), with
the reason in ``last_error``. A reminder queued months ago therefore never reaches a
party that has answered, and a message to nobody is never counted as sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from beslut import failpoints
from beslut.clock import Clock, later
from beslut.persistence import Store, UnitOfWork
from beslut.scheduler.notifiers.base import DeliveryError, Message, Notifier, Recipient
from beslut.states.case import Case
from beslut.states.records import Contact, OutboxRecord
from beslut.states.reminders import Verdict, delivery_verdict

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=6)
OUTBOX_LEASE = timedelta(minutes=5)
BATCH = 50

log = structlog.get_logger("beslut.outbox")


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0  # closed unsent at delivery: no longer due


def backoff(attempt: int) -> timedelta:
    """Wait before attempt number *attempt* + 1: 30 s, 1 min, 2 min, … capped at 6 h."""
    delay: timedelta = BASE_BACKOFF * (2 ** max(attempt - 1, 0))
    return min(delay, MAX_BACKOFF)


class OutboxDelivery:
    """Sends due outbox messages through one notifier, as one named worker."""

    def __init__(
        self, store: Store, notifier: Notifier, *, clock: Clock, worker: str, lease: timedelta = OUTBOX_LEASE
    ) -> None:
        self.lease = lease
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.worker = worker

    def deliver_due(self, *, should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
        """Deliver every message due now, batch by batch; return the counts."""
        counts = {"sent": 0, "failed": 0, "skipped": 0}
        while should_stop is None or not should_stop():
            now = self.clock.now()
            with self.store.unit_of_work() as uow:
                batch = uow.claim_outbox(now, worker=self.worker, lease_until=later(now, self.lease), limit=BATCH)
            if not batch:
                break
            for record in batch:
                if should_stop is not None and should_stop():
                    with self.store.unit_of_work() as uow:
                        uow.release_claims(self.worker)  # the next daemon need not wait for the lease
                    return DeliveryReport(**counts)
                outcome = self._deliver(record)
                if outcome is not None:
                    counts[outcome] += 1
        return DeliveryReport(**counts)

    def _deliver(self, record: OutboxRecord) -> str | None:
        """Send one message; its new status (sent, failed, skipped), or None if another worker has it now."""
        now = self.clock.now()
        with self.store.unit_of_work() as uow:
            taken = self._take(uow, record, now)
        if taken is None:
            return None
        if isinstance(taken, Verdict):
            return self._closed(record, taken)
        error: str | None = None
        permanent = False
        try:
            self.notifier.send(taken)
        except DeliveryError as problem:
            error = str(problem) or type(problem).__name__
            permanent = bool(getattr(problem, "permanent", False))
        except Exception as problem:  # a notifier bug must fail this message only, not stop delivery
            error = f"{type(problem).__name__}: {problem}"
        failpoints.hit("outbox.after_send")
        now = self.clock.now()
        attempts = record.attempts + 1
        retry_at = None if error is None or permanent or attempts >= MAX_ATTEMPTS else later(now, backoff(attempts))
        with self.store.unit_of_work() as uow:
            recorded = uow.finish_outbox(
                record.id,
                worker=self.worker,
                sent_at=now if error is None else None,
                error=error,
                next_attempt_at=retry_at,
            )
        fields = _fields(record)
        if not recorded:
            log.warning("delivery_unrecorded", reason="lease lost before the result was written", **fields)
            return None
        if error is None:
            log.info("delivered", notifier=self.notifier.name, **fields)
        else:
            retry = retry_at.isoformat() if retry_at else None
            log.warning("delivery_failed", error=error, attempts=attempts, retry_at=retry, **fields)
        return "sent" if error is None else "failed"

    def _take(self, uow: UnitOfWork, record: OutboxRecord, now: datetime) -> Message | Verdict | None:
        """Check the message again and re-lease it, in one transaction: the Message to send, or why not.

        Returns the message to send; a Verdict when the row was closed unsent (skipped or
        failed, see :func:`delivery_verdict`); None when the worker no longer holds the row
        (a slow batch can outlive its lease; then another worker owns the message).
        The case is locked before the outbox row is written, as every command does, so a
        decision is either seen here or waits until this message's status is written.
        """
        case = uow.load_case_for_update(record.recommendation) if record.recommendation else None
        verdict = delivery_verdict(record, case)
        if verdict.action != "send":
            assert verdict.reason is not None
            closed = uow.close_outbox(
                record.id, worker=self.worker, now=now, status=verdict.action, reason=verdict.reason
            )
            return verdict if closed else None
        if not uow.renew_outbox(record.id, worker=self.worker, now=now, lease_until=later(now, self.lease)):
            return None
        contact = uow.contact(record.contact_id) if record.contact_id else None
        return _message(record, case, contact)

    @staticmethod
    def _closed(record: OutboxRecord, verdict: Verdict) -> str:
        """Log a message closed unsent; its status."""
        if verdict.action == "failed":  # no one to send it to: visible to the coordinator, never retried
            log.warning(
                "delivery_failed", error=verdict.reason, attempts=record.attempts, retry_at=None, **_fields(record)
            )
        else:
            log.info("delivery_skipped", reason=verdict.reason, **_fields(record))
        return verdict.action


def _fields(record: OutboxRecord) -> dict[str, object]:
    """The ids a delivery log line names the message by (never a name or an address)."""
    return {"outbox_id": record.id, "kind": record.kind, "recommendation": record.recommendation}


def _message(record: OutboxRecord, case: Case | None, contact: Contact | None) -> Message:
    """The message a notifier gets: the row, with the names and the address looked up for the way out."""
    recipient = Recipient(
        contact_id=record.contact_id,
        name=contact.name if contact else None,
        email=contact.email if contact else None,
    )
    details = dict(record.details)
    if case is not None:
        coordinator = case.spec.party(case.spec.coordinator)
        details.setdefault("coordinator_name", coordinator.name if coordinator else case.spec.coordinator)
    return Message(
        outbox_id=record.id,
        kind=record.kind,  # type: ignore[arg-type]
        recommendation=record.recommendation,
        recommendation_title=case.spec.title if case else "",
        party=record.party or None,
        party_name=_party_name(case, record.party),
        due_at=record.due_at,
        reply_by=case.party(record.party).deadline if case and _has_party(case, record.party) else None,
        recipient=recipient,
        dedupe_key=record.dedupe_key,
        details=details,
    )


def _has_party(case: Case, party: str) -> bool:
    return case.spec.party(party) is not None


def _party_name(case: Case | None, party: str) -> str | None:
    if case is None or not party:
        return None
    spec_party = case.spec.party(party)
    return spec_party.name if spec_party else None
