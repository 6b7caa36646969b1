"""Personal data on a need-to-know basis: who may read a contact's name and address, and which outbox rows.

A contact (:class:`~beslut.states.records.Contact`) is the only place a person's name and
e-mail address are kept, and the outbox refers to it by id. Reading them over HTTP:

==============================  ==================================================================
role                            ``GET /contacts`` and ``GET /outbox``
==============================  ==================================================================
``admin``, ``coordinator``      every contact, every row (the coordinator keeps the contacts)
``clerk``                       its own party's contacts and outbox rows only
``auditor``                     every contact and row, with ids only: ``name``, ``email`` and an
                                outbox row's ``last_error`` (a mail server's refusal may quote an
                                address) are ``null``
==============================  ==================================================================

The documents keep their keys (the public contract of ``contact list --json`` and ``outbox
--json``); what a role may not see is ``null``, or the row is left out. The command line reads
the database directly and is not restricted here. docs/api.md, "Personal data", says the same.
"""

from __future__ import annotations

from typing import Any

from beslut.api.auth import Principal
from beslut.states.records import Contact, OutboxRecord
from beslut.workflow.documents import contact_json, outbox_json

SEES_ALL = frozenset({"admin", "coordinator"})


def contacts_for(principal: Principal, contacts: list[Contact]) -> list[dict[str, Any]]:
    """The contacts *principal* may read, as ``contact list --json`` shows them (names withheld from auditors)."""
    if principal.role in SEES_ALL:
        return [contact_json(c) for c in contacts]
    if principal.role == "clerk":
        return [contact_json(c) for c in contacts if c.party == principal.party]
    return [{**contact_json(c), "name": None, "email": None} for c in contacts]


def outbox_for(principal: Principal, records: list[OutboxRecord]) -> list[dict[str, Any]]:
    """The outbox rows *principal* may read, as ``outbox --json`` shows them (errors withheld from auditors)."""
    if principal.role in SEES_ALL:
        return [outbox_json(r) for r in records]
    if principal.role == "clerk":
        return [outbox_json(r) for r in records if r.party == principal.party]
    return [{**outbox_json(r), "last_error": None} for r in records]


__all__ = ["contacts_for", "outbox_for"]
