"""Read models: the JSON shapes that `status --json` and the Python API hand out.

The keys here are a public contract (services and scripts parse them): extend,
never rename. Dates are ISO 8601 dates, amounts decimal strings in SEK.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from beslut.states.case import Case, PartyDecision
from beslut.states.spec import PartySpec


def case_status(case: Case) -> dict[str, Any]:
    """The status document of one recommendation."""
    amounts = case.amounts()
    spec = case.spec
    # One lookup table, not spec.party(key) per party: that scans the spec's parties, so a status cost
    # comparisons in the square of the number of parties.
    specs = {p.key: p for p in spec.parties}
    return {
        "key": case.key,
        "title": spec.title,
        "issuer": spec.issuer,
        "coordinator": spec.coordinator,
        "state": case.state,
        "outcome": case.outcome,
        "consolidation": str(spec.consolidation),
        "reply_by": case.reply_deadline.isoformat(),
        "reply_by_as_given": spec.reply_by.isoformat(),
        "in_force_on": _date(spec.in_force_on),
        "in_force_since": _date(case.in_force_since),
        "supersedes": spec.supersedes,
        "superseded_by": case.superseded_by,
        "proposed_on": case.proposed_on.isoformat(),
        "recommended_on": _date(case.recommended_on),
        "consolidated_on": _date(case.consolidated_on),
        "withdrawn_on": _date(case.withdrawn_on),
        "participants": list(case.participants) if case.participants is not None else None,
        "contested": list(case.contested),
        "recounted_on": _date(case.recounted_on),
        "in_force_requires": spec.in_force_requires,
        "waiting_for_final": list(case.waiting_for_final),
        "version": case.version,
        "total": _amount(sum(amounts.values(), Decimal(0))) if amounts is not None else None,
        "parties": [_party(decision, specs[decision.key], amounts) for decision in case.parties],
    }


def _party(decision: PartyDecision, spec_party: PartySpec, amounts: dict[str, Decimal] | None) -> dict[str, Any]:
    return {
        "key": decision.key,
        "name": spec_party.name,
        "state": decision.state,
        "outcome": decision.outcome,
        "conditions": decision.conditions,
        "deadline": decision.deadline.isoformat(),
        "overdue": decision.overdue,
        "late": decision.late,
        "days_late": decision.days_late,
        "amount": _amount(amounts.get(decision.key, Decimal(0))) if amounts is not None else None,
        "case_number": decision.case_number,
        "prepared_on": _date(decision.prepared_on),
        "proposal": (
            {
                "body": decision.proposal_body,
                "paragraph": decision.proposal_paragraph,
                "on": _date(decision.proposed_on),
            }
            if decision.proposed_on is not None
            else None
        ),
        "deciding_body": decision.deciding_body or spec_party.deciding_body,
        "paragraph": decision.paragraph,
        "decided_on": _date(decision.decided_on),
        "announced_on": _date(decision.announced_on),
        "appeal_last_day": _date(decision.appeal_last_day),
        "appealed_on": _date(decision.appealed_on),
        "settlement": decision.settlement,
        "settled_on": _date(decision.settled_on),
        "final_on": _date(decision.final_on),
        "minute_extract_received_on": _date(decision.reported_on),
    }


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _amount(value: Decimal) -> str:
    return str(value)
