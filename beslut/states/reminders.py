"""The reminder policy: what a reminder timer that falls due puts in the outbox.

Pure: given the case, the timer, the instant being ticked and the recipients, it
returns outbox entries and, for a series, the next timer. The policy, written down:

- A reminder is sent only while the party is still expected to decide (the
  recommendation is ``recommended`` and the party has not decided); otherwise the
  timer is cancelled and nothing is sent. A withdrawn or consolidated
  recommendation therefore sends nothing.
- ``before`` reminders go to the party's contacts at 00:00 on the day each
  ``[reminders].before`` duration ahead of its (rolled) reply date.
- ``overdue`` reminders go from the end of the reply date and then every
  ``overdue_every`` until the party decides.
- One ``escalation`` goes to the coordinator's contacts ``escalate_after`` after the
  end of the reply date.
- **Coalescing after downtime.** A party's ``before`` and ``overdue`` reminders are
  one ladder. When a tick finds several of a ladder's reminders due at once (the
  daemon was down, or a recommendation was registered late), only the newest is
  queued; each older one is recorded in the outbox as ``skipped`` (visible, never
  sent late in a burst). A missed ``overdue`` series is caught up the same way: its
  occurrences up to the tick are recorded, all but the newest as skipped, and the
  series continues after the newest. An escalation is a single message and is
  sent even when late.
- A party without contacts still gets its outbox row (contact ``""``), so the
  coordinator can see that nobody was told; it is never sent: delivery marks it
  ``failed`` with the reason ``no contact`` and does not retry it.
- **Checked again at delivery.** A message can wait in the outbox (a daemon that
  was down, a retry backing off) while the case moves on. :func:`delivery_verdict`
  is the rule the outbox applies to each message, against the case as it is when
  the message is taken for sending: a ``before``/``overdue`` reminder or an
  ``escalation`` whose party has decided, or whose recommendation is no longer
  ``recommended``, is ``skipped`` with the reason. An escalation queued because a
  recount left the agreement not adopted (details ``reason = "recount"``) is due
  while the agreement is still consolidated or in force and not adopted, and
  ``skipped`` once a later recount adopted it again or it was superseded. A digest
  is a snapshot of its morning and goes as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from beslut.states.calendar import local_date
from beslut.states.case import ADOPTED_OUTCOMES, RECOUNT_STATES, Case
from beslut.states.deadlines import Deadline, DeadlineRow, is_open, next_in_series, series_after
from beslut.states.escalations import RECOUNT_REASON
from beslut.states.records import Contact, OutboxEntry

MESSAGE_KIND = {"remind_before": "before", "remind_overdue": "overdue", "escalate": "escalation"}
CHASING_KINDS: Final = frozenset({"before", "overdue", "escalation"})  # messages that chase a party's decision
NO_CONTACT: Final = "no contact"


@dataclass(frozen=True, kw_only=True)
class ReminderPlan:
    """What firing one reminder timer does: outbox entries, the timer's status, and a next timer."""

    status: str
    entries: tuple[OutboxEntry, ...] = ()
    next_timer: Deadline | None = None
    skipped: int = field(default=0)


def plan_reminder(
    case: Case,
    timer: DeadlineRow,
    *,
    due_by: datetime,
    newer_in_ladder: bool,
    party_contacts: Sequence[Contact],
    coordinator_contacts: Sequence[Contact],
) -> ReminderPlan:
    """Decide what the due reminder *timer* sends, ticking at *due_by*."""
    assert timer.party is not None
    party = case.party(timer.party)
    if not is_open(case, party):
        return ReminderPlan(status="cancelled")
    kind = MESSAGE_KIND[timer.kind]
    details: dict[str, object] = {"reply_by": party.deadline.isoformat()}
    if timer.kind == "escalate":
        late = (local_date(timer.due_at) - party.deadline).days - 1
        entries = _entries(
            case,
            timer.party,
            kind,
            timer.due_at,
            contacts=coordinator_contacts,
            status="queued",
            details={**details, "days_late": late},
        )
        return ReminderPlan(status="done", entries=entries)
    if timer.kind == "remind_before":
        status = "skipped" if newer_in_ladder else "queued"
        entries = _entries(
            case, timer.party, kind, timer.due_at, contacts=party_contacts, status=status, details=details
        )
        return ReminderPlan(status="done", entries=entries, skipped=len(entries) if newer_in_ladder else 0)
    every = case.spec.reminders.overdue_every
    assert every is not None
    occurrences = series_after(timer.due_at, every, until=due_by) or [timer.due_at]
    entries_list: list[OutboxEntry] = []
    for index, instant in enumerate(occurrences):
        status = "queued" if index == len(occurrences) - 1 else "skipped"
        entries_list.extend(
            _entries(case, timer.party, kind, instant, contacts=party_contacts, status=status, details=details)
        )
    following = next_in_series(occurrences[-1], every)
    next_timer = Deadline(recommendation=case.key, kind=timer.kind, party=timer.party, due_at=following)
    skipped = sum(1 for e in entries_list if e.status == "skipped")
    return ReminderPlan(status="done", entries=tuple(entries_list), next_timer=next_timer, skipped=skipped)


def _entries(
    case: Case,
    party: str,
    kind: str,
    due_at: datetime,
    *,
    contacts: Sequence[Contact],
    status: str,
    details: dict[str, object],
) -> tuple[OutboxEntry, ...]:
    ids = [c.id for c in contacts] or [""]
    return tuple(
        OutboxEntry(
            recommendation=case.key,
            party=party,
            kind=kind,
            due_at=due_at,
            contact_id=contact_id,
            status=status,
            details=details,
        )
        for contact_id in ids
    )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What delivery does with one message: send it, or close it unsent with a reason for the coordinator."""

    action: Literal["send", "skipped", "failed"]
    reason: str | None = None


SEND: Final = Verdict(action="send")


def delivery_verdict(message: OutboxEntry, case: Case | None) -> Verdict:
    """Whether *message* is still to be sent, judged against *case* as it is now (None: no such recommendation).

    Pure, so the outbox can call it inside the transaction that holds the case and the
    message, and a decision committed meanwhile cannot slip between the check and the
    status it leads to. A message no longer due is ``skipped`` (nothing went wrong, the
    party answered or the recommendation moved on); one still due but addressed to no
    contact is ``failed`` for good with :data:`NO_CONTACT`, never reported as sent.
    """
    stale = _why_not_due(message, case)
    if stale is not None:
        return Verdict(action="skipped", reason=stale)
    if not message.contact_id:
        return Verdict(action="failed", reason=NO_CONTACT)
    return SEND


def _why_not_due(message: OutboxEntry, case: Case | None) -> str | None:
    """Why a message that chases a decision no longer should (None: it still should, or it chases nothing)."""
    if _is_recount(message):
        return _why_recount_not_due(message, case)
    if message.kind not in CHASING_KINDS:
        return None
    if case is None:
        return f"no longer due: no recommendation {message.recommendation!r}"
    party = next((p for p in case.parties if p.key == message.party), None)
    if party is None:
        return f"no longer due: the recommendation has no party {message.party!r}"
    if is_open(case, party):  # the same rule that decides whether a timer queues the message at all
        return None
    if case.state != "recommended":
        return f"no longer due: the recommendation is {case.state}"
    return f"no longer due: the party has decided ({party.state})"


def _why_recount_not_due(message: OutboxEntry, case: Case | None) -> str | None:
    """A recount's escalation tells that the agreement is no longer adopted: moot once it is adopted again.

    It stays due while the agreement is still counted and not adopted (the coordinator must act); when
    the contested party has decided anew and a later recount adopted it, or the agreement was
    superseded, there is nothing left to escalate.
    """
    if case is None:
        return f"no longer due: no recommendation {message.recommendation!r}"
    if case.state not in RECOUNT_STATES:
        return f"no longer due: the recommendation is {case.state}"
    if case.outcome in ADOPTED_OUTCOMES:
        return f"no longer due: a later recount adopted the agreement again ({case.outcome})"
    return None


def _is_recount(message: OutboxEntry) -> bool:
    """An escalation queued because a recount left the agreement not adopted (:func:`_why_recount_not_due`)."""
    return message.kind == "escalation" and message.details.get("reason") == RECOUNT_REASON
