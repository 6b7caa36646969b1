"""The cases port over SQL: the ``recommendation`` and ``party_decision`` tables."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import UpdateBase

from beslut.errors import ConcurrencyConflict, Duplicate
from beslut.persistence import _tables as t
from beslut.persistence._sql.base import SqlPart, SqlWritePart, _unstorable
from beslut.states.audit_chain import canonical_json
from beslut.states.case import UNDECIDED, Case, PartyDecision, changed_party_indexes
from beslut.states.spec import RecommendationSpec, spec_to_data
from beslut.states.spec_cache import parse_spec_json
from beslut.workflow.ports import CaseReads, CaseWrites, OverdueParty

_PARTY_FIELDS = [f.name for f in fields(PartyDecision) if f.name != "key"]
_party_field_values = operator.attrgetter(*_PARTY_FIELDS)  # one C call per party row, not a getattr per field
# Columns of `recommendation` a command may change; the rest are fixed when it is proposed.
_MUTABLE_CASE_COLUMNS = (
    "state", "outcome", "version", "participants", "recommended_on", "consolidated_on", "in_force_since",
    "withdrawn_on", "withdraw_reason", "superseded_on", "superseded_by", "contested", "recounted_on", "readopted_on",
    "updated_at",
)  # fmt: skip

_R, _P = t.RECOMMENDATION, t.PARTY_DECISION
_SELECT_CASE = select(_R).where(_R.c.key == bindparam("key"))
# A party row's columns in PartyDecision's field order, read as plain tuples: building 300 PartyDecisions
# from mappings (a dict per row) was a visible share of a status read and of loading a batch's cases.
_PARTY_NAMES = ("key", *_PARTY_FIELDS)
_PARTY_COLUMNS = (_P.c.party_key, *(_P.c[name] for name in _PARTY_FIELDS))
_new_object = object.__new__


def _party_decision(row: Sequence[Any]) -> PartyDecision:
    """``PartyDecision(**columns)`` for a stored row, without the frozen dataclass's ``__init__``.

    Why: that ``__init__`` sets each field through ``object.__setattr__``; loading a case with hundreds of
    parties builds one per party, which was most of a reminder's CPU in a large tick (docs/performance.md).
    Valid because PartyDecision has no ``__post_init__`` and no slots and every field is a column
    (tests/persistence/test_party_rows.py keeps that true).
    """
    party: PartyDecision = _new_object(PartyDecision)
    party.__dict__.update(zip(_PARTY_NAMES, row, strict=True))
    return party


_SELECT_PARTIES = select(*_PARTY_COLUMNS).where(_P.c.recommendation_key == bindparam("key")).order_by(_P.c.position)
_CASE_VERSION = select(_R.c.version).where(_R.c.key == bindparam("key"))
_LOCK_CASE = select(_R.c.key).where(_R.c.key == bindparam("key")).with_for_update()
_UPDATE_CASE = (
    update(_R)
    .where(and_(_R.c.key == bindparam("b_key"), _R.c.version == bindparam("b_expected")))
    .values({name: bindparam(name) for name in _MUTABLE_CASE_COLUMNS})
)


@functools.lru_cache(maxsize=64)  # a handful of column sets: one per kind of party step
def _update_party(columns: tuple[str, ...]) -> UpdateBase:
    """UPDATE of one party row's *columns* (built once per column set, so its compiled form is reused)."""
    return (
        update(_P)
        .where(and_(_P.c.recommendation_key == bindparam("b_key"), _P.c.party_key == bindparam("b_party")))
        .values({name: bindparam(name) for name in columns})
    )


# Aggregates for operators' metrics (read at every scrape, so each must stay cheap).
# Aggregates for operators' metrics (read at every scrape, so each must stay cheap).
_CASES_BY_STATE = select(_R.c.state, func.count()).group_by(_R.c.state)
_OVERDUE_PARTIES = (
    select(func.count())
    .select_from(_P.join(_R, _R.c.key == _P.c.recommendation_key))
    .where(and_(_P.c.overdue.is_(True), _R.c.state == "recommended"))
)
# "All overdue parties": the (state, deadline) index gives the undecided rows past their date, not the table.
_OVERDUE_LIST = (
    select(_P.c.recommendation_key, _P.c.party_key, _P.c.deadline)
    .select_from(_P.join(_R, _R.c.key == _P.c.recommendation_key))
    .where(and_(_P.c.state.in_(sorted(UNDECIDED)), _P.c.deadline < bindparam("today"), _R.c.state == "recommended"))
    .order_by(_P.c.deadline, _P.c.recommendation_key, _P.c.party_key)
)


class SqlCaseReads(SqlPart, CaseReads):
    """Cases read on the transaction's connection."""

    def load_case(self, key: str) -> Case | None:
        """The recommendation *key*, or None."""
        if _unstorable(key):
            return None
        row = self.connection.execute(_SELECT_CASE, {"key": key}).mappings().first()
        if row is None:
            return None
        return self._case(row, self.connection.execute(_SELECT_PARTIES, {"key": key}).all())

    def list_cases(self) -> list[Case]:
        """Every recommendation, by proposal date then key."""
        rows = (
            self.connection.execute(
                select(t.RECOMMENDATION).order_by(t.RECOMMENDATION.c.proposed_on, t.RECOMMENDATION.c.key)
            )
            .mappings()
            .all()
        )
        parties = self._party_rows(None)
        return [self._case(row, parties.get(row["key"], [])) for row in rows]

    def cases_page(
        self,
        *,
        limit: int | None = None,
        states: Collection[str] | None = None,
        after: tuple[date, str] | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """A page of cases by proposal date then key; the party rows of that page only (see the port)."""
        query = select(_R)
        if states is not None:
            query = query.where(_R.c.state.in_(sorted(states)))
        if after is not None:  # keyset: (proposed_on, key) > after, spelled out for both databases
            day, key = after
            query = query.where(or_(_R.c.proposed_on > day, and_(_R.c.proposed_on == day, _R.c.key > key)))
        query = query.order_by(_R.c.proposed_on, _R.c.key).offset(offset).limit(limit)
        rows = self.connection.execute(query).mappings().all()
        if not rows:
            return []
        parties = self._party_rows([row["key"] for row in rows])
        return [self._case(row, parties.get(row["key"], [])) for row in rows]

    def known_parties(self) -> set[str]:
        """Party keys named by any recommendation, as a party or as its coordinator."""
        parties = self.connection.execute(select(t.PARTY_DECISION.c.party_key).distinct()).scalars().all()
        coordinators = self.connection.execute(select(t.RECOMMENDATION.c.coordinator).distinct()).scalars().all()
        return {*parties, *coordinators}

    def recommendation_counts(self) -> dict[str, int]:
        """Recommendations per state (ix on recommendation.state)."""
        return {str(state): int(count) for state, count in self.connection.execute(_CASES_BY_STATE).all()}

    def overdue_party_count(self) -> int:
        """Overdue parties of recommended cases (ix_party_decision_overdue, then the recommendation's key)."""
        count: int = self.connection.execute(_OVERDUE_PARTIES).scalar_one()
        return count

    def overdue_parties(self, today: date, *, limit: int | None = None) -> list[OverdueParty]:
        """Undecided parties past their reply date on recommended recommendations; see the port."""
        query = _OVERDUE_LIST if limit is None else _OVERDUE_LIST.limit(limit)
        rows = self.connection.execute(query, {"today": today}).all()
        return [OverdueParty(recommendation=key, party=party, deadline=deadline) for key, party, deadline in rows]

    def _party_rows(self, keys: list[str] | None) -> dict[str, list[Any]]:
        """The party rows (PartyDecision field order) of the recommendations *keys* (None: all), by recommendation."""
        query = select(_P.c.recommendation_key, *_PARTY_COLUMNS)
        if keys is not None:
            query = query.where(_P.c.recommendation_key.in_(keys))
        rows = self.connection.execute(query.order_by(_P.c.recommendation_key, _P.c.position)).all()
        grouped: dict[str, list[Any]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row[1:])
        return grouped

    @staticmethod
    def _case(row: Any, party_rows: Sequence[Any]) -> Case:
        spec = _spec_from_text(row["spec"])
        parties = tuple(map(_party_decision, party_rows))
        participants = row["participants"]
        contested = row["contested"]
        return Case(
            spec=spec,
            state=row["state"],
            version=row["version"],
            reply_deadline=row["reply_deadline"],
            proposed_on=row["proposed_on"],
            parties=parties,
            outcome=row["outcome"],
            participants=tuple(json.loads(participants)) if participants is not None else None,
            recommended_on=row["recommended_on"],
            consolidated_on=row["consolidated_on"],
            in_force_since=row["in_force_since"],
            withdrawn_on=row["withdrawn_on"],
            withdraw_reason=row["withdraw_reason"],
            superseded_on=row["superseded_on"],
            superseded_by=row["superseded_by"],
            contested=tuple(json.loads(contested)) if contested is not None else (),
            recounted_on=row["recounted_on"],
            readopted_on=row["readopted_on"],
        )


class SqlCaseWrites(SqlCaseReads, SqlWritePart, CaseWrites):
    """Cases held, inserted and saved in a write transaction."""

    def load_case_for_update(self, key: str, *, known: Case | None = None) -> Case | None:
        """Load and hold the recommendation row until commit (FOR UPDATE where the database has it).

        *known* at the stored version is taken as it is (see :meth:`UnitOfWork.load_case_for_update`).
        """
        if _unstorable(key):
            return None
        if self._store.row_locks:
            self.connection.execute(_LOCK_CASE, {"key": key}).first()
        case: Case | None = None
        if known is not None and known.key == key:
            version = self.connection.execute(_CASE_VERSION, {"key": key}).scalar_one_or_none()
            case = known if version == known.version else None
        if case is None:
            case = self.load_case(key)
        if case is not None:
            self._loaded[key] = case
            self._stream_starts.setdefault(key, case.version)
        return case

    def add_case(self, case: Case, *, now: datetime) -> None:
        """Insert the recommendation and its parties."""
        self._stream_starts[case.key] = 0
        try:
            self.connection.execute(insert(t.RECOMMENDATION).values(**_case_values(case, now)))
        except IntegrityError as error:
            raise Duplicate(f"recommendation {case.key!r} already exists") from error
        self.connection.execute(
            insert(t.PARTY_DECISION), [_party_values(case.key, i, p) for i, p in enumerate(case.parties)]
        )

    def save_case(self, case: Case, *, expected_version: int, now: datetime) -> None:
        """Update the recommendation if still at *expected_version*, and the parties that changed."""
        params = _mutable_case_values(case, now)
        params.update(b_key=case.key, b_expected=expected_version)
        result = self.connection.execute(_UPDATE_CASE, params)
        if result.rowcount != 1:
            raise ConcurrencyConflict(
                f"recommendation {case.key!r} changed since version {expected_version}: reload and try again"
            )
        before = self._loaded.get(case.key)
        # Each changed party row gets an UPDATE of only the columns that changed (a decision sets ~5 of
        # 30), grouped by that column set so each group is one executemany.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        # Unchanged parties are the same objects: only the changed ones are looked at (a tick saves one of 10,000).
        for index in range(len(case.parties)) if before is None else changed_party_indexes(before, case):
            party = case.parties[index]
            new = _party_field_values(party)
            if before is None:
                columns = tuple(_PARTY_FIELDS)
                values = new
            else:
                old_party = before.parties[index]
                old = _party_field_values(old_party)
                if old == new:
                    continue
                changed = [(name, b) for name, a, b in zip(_PARTY_FIELDS, old, new, strict=True) if a != b]
                columns = tuple(name for name, _ in changed)
                values = tuple(value for _, value in changed)
            row = dict(zip(columns, values, strict=True), b_key=case.key, b_party=party.key)
            by_columns.setdefault(columns, []).append(row)
        for columns, rows in by_columns.items():
            self._store.executemany(self.connection, _update_party(columns), rows)
        self._loaded[case.key] = case


@functools.lru_cache(maxsize=128)  # bounded: memory stays flat however many cases exist
def _spec_from_text(text_value: str) -> RecommendationSpec:
    """Parse a stored spec once: specs never change after a proposal, and parsing validates every field.

    This exact-text cache answers a command that reloads the same few cases; behind it the shared
    spec cache (:mod:`beslut.states.spec_cache`) answers the cases proposed from one template, so a
    batch touching more than 128 recommendations (an import in party order) does not re-parse each.
    """
    return parse_spec_json(text_value)


def _case_values(case: Case, now: datetime) -> dict[str, Any]:
    spec = case.spec
    return {
        "key": case.key,
        "title": spec.title,
        "issuer": spec.issuer,
        "coordinator": spec.coordinator,
        "consolidation": str(spec.consolidation),
        "reply_by": spec.reply_by,
        "reply_deadline": case.reply_deadline,
        "in_force_on": spec.in_force_on,
        "supersedes": spec.supersedes,
        "proposed_on": case.proposed_on,
        "spec": canonical_json(spec_to_data(spec)),
        **_mutable_case_values(case, now),
    }


def _mutable_case_values(case: Case, now: datetime) -> dict[str, Any]:
    return {
        "state": case.state,
        "outcome": case.outcome,
        "version": case.version,
        "participants": json.dumps(list(case.participants)) if case.participants is not None else None,
        "recommended_on": case.recommended_on,
        "consolidated_on": case.consolidated_on,
        "in_force_since": case.in_force_since,
        "withdrawn_on": case.withdrawn_on,
        "withdraw_reason": case.withdraw_reason,
        "superseded_on": case.superseded_on,
        "superseded_by": case.superseded_by,
        "contested": json.dumps(list(case.contested)) if case.contested else None,
        "recounted_on": case.recounted_on,
        "readopted_on": case.readopted_on,
        "updated_at": now,
    }


def _party_values(key: str, position: int, party: PartyDecision) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(party, name) for name in _PARTY_FIELDS}
    values.update(recommendation_key=key, party_key=party.key, position=position)
    return values
