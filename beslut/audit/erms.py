"""The case as descriptive metadata in the style of FGS Ärendehantering (E-ARK CITS ERMS): ``data/erms.xml``.

An archivist's systems read a case file (ärendeakt) as CITS ERMS: a ``control`` section
(who maintains the document, when it was made) and an ``aggregation`` of type
``caseFile`` holding the case's id, title, status, relations, agents, dates and the
``action`` elements that record decisions. This module writes one for a recommendation:

- the aggregation is the recommendation: ``objectId`` its key, ``title`` its title,
  ``status`` from its state, ``relation`` to the recommendation it supersedes or is
  superseded by, the issuer as ``creator`` and every party as ``counterpart`` (with its
  party id as ``idNumber``), and its dates (proposed, recommended, reply-by, consolidated,
  in force);
- one ``action`` per recommendation-level step (recommended, consolidated, came into force,
  withdrawn) and one per party decision (the outcome, the deciding body and paragraph,
  the party's diarienummer, conditions as the motivation, and the decision and
  announcement dates), the party as the action's agent with its id.

The document is a pure function of the replayed case and its events (no export time in
it: the maintenance date is when the last event was recorded), so `verify-export`
rebuilds it from ``events.jsonl`` and compares it element by element (:func:`compare`).
Legal dates, which ERMS types as ``xs:dateTime``, are written as the start of that day in
Europe/Stockholm. No names of people: the log holds none, and the parties are
organisations. docs/auditor.md lists where this deviates from CITS ERMS.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, Final

from beslut.clock import STOCKHOLM
from beslut.states.audit_chain import AuditRecord

ERMS_NS: Final = "https://DILCIS.eu/XML/ERMS"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION: Final = f"{ERMS_NS} https://raw.githubusercontent.com/DILCISBoard/CITS-ERMS/master/schema/ERMS_v3.xsd"
PARTY_ID: Final = "beslut party key"
KEY_ID: Final = "beslut recommendation key"
ET.register_namespace("", ERMS_NS)

# The recommendation's state as an ERMS case status (its own state is in a note as well).
_STATUS: Final = {
    "proposed": "initiated",
    "recommended": "in_progress",
    "consolidated": "expedited",
    "in_force": "expedited",
    "withdrawn": "closed",
    "superseded": "closed",
}
ERMS_DATE_TYPES: Final = frozenset({"created", "decision", "decision_date", "decision_deadline", "received"})
_ANNOUNCED: Final = "announced (anslag, KL 8:12)"
_FINAL: Final = "final (laga kraft)"
_STEPS: Final = (  # recommendation-level actions: (status field, action type, Swedish action text)
    ("recommended_on", "recommended", "Rekommendationen skickad till parterna"),
    ("consolidated_on", "consolidated", "Parternas beslut sammanställda"),
    ("in_force_since", "in_force", "Överenskommelsen trädde i kraft"),
    ("withdrawn_on", "withdrawn", "Rekommendationen återkallad"),
)


def _e(tag: str) -> str:
    return f"{{{ERMS_NS}}}{tag}"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _e(tag), attributes)
    if text is not None:
        element.text = text
    return element


def day_start(day: str) -> str:
    """A legal date as ERMS's ``xs:dateTime``: the start of that day in Europe/Stockholm."""
    return datetime.combine(date.fromisoformat(day), time(0), STOCKHOLM).isoformat()


def erms_document(status: Mapping[str, Any], records: Sequence[AuditRecord], software: str) -> ET.Element:
    """The ERMS element tree of one recommendation (*status* is its `status --json`, *records* its events)."""
    key = str(status["key"])
    root = ET.Element(_e("erms"), {f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION})
    control = _add(root, "control")
    _add(control, "identification", key, identificationType=KEY_ID)
    maintenance = _add(control, "maintenanceInformation")
    _add(maintenance, "maintenanceStatus", value="created")
    agency = _add(maintenance, "maintenanceAgency")
    _add(agency, "agencyName", str(status["issuer"]))
    history = _add(maintenance, "maintenanceHistory")
    made = _add(history, "maintenanceEvent")
    _add(made, "eventType", value="created")
    _add(made, "eventDateTime", records[-1].recorded_at)
    tool = _add(made, "agent", agentType="other", otherAgentType="software")
    _add(tool, "name", software)
    aggregations = _add(root, "aggregations")
    case = _add(
        aggregations,
        "aggregation",
        systemIdentifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"beslut:{key}")),
        aggregationType="caseFile",
    )
    _add(case, "objectId", key)
    _add(case, "title", str(status["title"]))
    _add(case, "status", value=_STATUS.get(str(status["state"]), "in_progress"))
    if status.get("supersedes"):
        _add(case, "relation", str(status["supersedes"]), relationType="replaces")
    if status.get("superseded_by"):
        _add(case, "relation", str(status["superseded_by"]), relationType="is_replaced_with")
    agents = _add(case, "agents")
    issuer = _add(agents, "agent", agentType="creator")
    _add(issuer, "name", str(status["issuer"]))
    _add(issuer, "role", "utfärdare av rekommendationen")
    for party in status["parties"]:
        _party_agent(agents, party, "counterpart", "part som beslutar")
    dates = _add(case, "dates")
    _add(dates, "date", day_start(str(status["proposed_on"])), dateType="created")
    _add(dates, "date", day_start(str(status["reply_by"])), dateType="decision_deadline")
    if status.get("consolidated_on"):
        _add(dates, "date", day_start(str(status["consolidated_on"])), dateType="decision")
    for field, kind, text in _STEPS:
        if status.get(field):
            _action(case, text, kind, {"decision_date": str(status[field])}, None)
    for party in status["parties"]:
        if party.get("decided_on"):
            _decision(case, party)
    notes = _add(case, "notes")
    summary = f"state {status['state']}; outcome {status['outcome']}; consolidation {status['consolidation']}"
    _add(notes, "note", summary, noteType="beslut status")
    if status.get("recounted_on"):
        contested = ", ".join(status.get("contested") or []) or "none"
        recount = f"recounted {status['recounted_on']} after a changed counted decision; contested: {contested}"
        _add(notes, "note", recount, noteType="beslut recount")
    _add(notes, "note", f"{len(records)} audit events, seq {records[0].seq}..{records[-1].seq}", noteType="beslut log")
    return root


def _party_agent(parent: ET.Element, party: Mapping[str, Any], kind: str, role: str) -> None:
    agent = _add(parent, "agent", agentType=kind)
    _add(agent, "name", str(party["name"]))
    _add(agent, "idNumber", str(party["key"]), idNumberType=PARTY_ID)
    _add(agent, "role", role)


def _decision(case: ET.Element, party: Mapping[str, Any]) -> None:
    where = " ".join(str(p) for p in (party.get("deciding_body"), party.get("paragraph")) if p)
    text = f"{party['name']} ({party['key']}): {party['outcome']}"
    if where:
        text += f", {where}"
    if party.get("case_number"):
        text += f", dnr {party['case_number']}"
    dates = {"decision_date": str(party["decided_on"])}
    if party.get("announced_on"):
        dates[_ANNOUNCED] = str(party["announced_on"])
    if party.get("final_on"):
        dates[_FINAL] = str(party["final_on"])
    if party.get("minute_extract_received_on"):
        dates["received"] = str(party["minute_extract_received_on"])
    action = _action(case, text, str(party["outcome"]), dates, party.get("conditions"))
    agents = _add(action, "agents")
    _party_agent(agents, party, "responsible_person", str(party.get("deciding_body") or "beslutande organ"))


def _action(case: ET.Element, text: str, kind: str, dates: Mapping[str, str], motivation: str | None) -> ET.Element:
    action = _add(case, "action")
    _add(action, "actionText", text)
    if motivation:
        _add(action, "actionMotivation", motivation)
    _add(action, "actionType", kind)
    holder = _add(action, "dates")
    for date_type, day in dates.items():
        if date_type in ERMS_DATE_TYPES:
            _add(holder, "actionDate", day_start(day), dateType=date_type)
        else:  # ERMS has no word for it: dateType "other", named in otherDateType
            _add(holder, "actionDate", day_start(day), dateType="other", otherDateType=date_type)
    return action


def _walk(element: ET.Element, path: str) -> Iterator[tuple[str, str, dict[str, str], str]]:
    name = element.tag.removeprefix(f"{{{ERMS_NS}}}")
    here = f"{path}/{name}"
    yield here, name, dict(element.attrib), (element.text or "").strip()
    for child in element:
        yield from _walk(child, here)


def compare(expected: ET.Element, found: ET.Element) -> str | None:
    """Where *found* differs from *expected* (the first element, in document order), or None if it does not."""
    left, right = list(_walk(expected, "")), list(_walk(found, ""))
    for (path, tag, attributes, text), (other_path, other_tag, other_attributes, other_text) in zip(
        left, right, strict=False
    ):
        if tag != other_tag:
            return f"{other_path}: expected {path}"
        if attributes != other_attributes:
            return f"{path}: attributes {other_attributes}, expected {attributes}"
        if text != other_text:
            return f"{path}: {other_text!r}, expected {text!r}"
    if len(left) != len(right):
        return f"{len(right)} elements, expected {len(left)}"
    return None
