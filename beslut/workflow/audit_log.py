"""Reading the audit log as an auditor must: every row as it is, named when it is not what it should be.

The store's own reader converts columns to Python types and would stop with an
exception on a row an attacker filled with, say, a date that is not a date. Here each
row of ``audit_event`` comes through the port's ``audit_rows_as_stored`` untouched
and is turned into an :class:`~beslut.states.audit_chain.AuditRecord` whose text
columns are what the hash covers: ``recorded_at`` is the stored instant (SQLite: ISO 8601
text with an offset; PostgreSQL: ``timestamptz``) formatted as the log defines it, in
Europe/Stockholm with microseconds, and every other column is the stored value itself. A
row that cannot even be made into a record (a NULL, a number where text belongs, bytes
that are not UTF-8, an instant that is not one) is handed on with a description of what
is wrong, so the verifier names its seq instead of crashing.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Generator
from datetime import date, datetime
from typing import Any

from beslut.states.audit_chain import AuditRecord, Row, format_instant
from beslut.workflow.ports import AUDIT_COLUMNS, Reader

_TEXT_COLUMNS = ("stream", "kind", "payload", "prev_hash", "hash")


def read_log(
    reader: Reader, *, stream: str | None = None, streams: Collection[str] | None = None, after_seq: int = 0
) -> Generator[Row, None, None]:
    """The audit log (or one stream, or several, or the rows after a seq) in seq order, one :class:`Row` per row."""
    rows = reader.audit_rows_as_stored(stream=stream, streams=streams, after_seq=after_seq)
    try:
        for values in rows:
            yield to_row(values)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # the cursor is closed when the caller stops early, not when the generator is collected


def records_before(reader: Reader, stream: str, seq: int) -> Generator[AuditRecord, None, None]:
    """The records of *stream* with a seq below *seq*, in seq order (a verifier folding a stream again).

    Raises:
        ValueError: one of them cannot be read (it could when it was first read: the snapshot changed).
    """
    rows = read_log(reader, stream=stream)
    try:
        for row in rows:
            if row.record.seq >= seq:
                return
            if row.problem is not None:
                raise ValueError(f"seq {row.record.seq} read again cannot be read: {row.problem}")
            yield row.record
    finally:
        rows.close()


def to_row(values: tuple[Any, ...]) -> Row:
    """Turn the raw column values of one ``audit_event`` row into a :class:`Row`."""
    record = to_record(values)
    return Row(record) if record is not None else _careful(values)


def to_record(values: tuple[Any, ...]) -> AuditRecord | None:
    """The record of a row as it should be (the usual row), straight through; None for any other row.

    :func:`to_row` says what is wrong with the others. Apart so that a caller that only wants good rows
    (a part of a parallel verification, :mod:`beslut.audit.parallel`) makes no :class:`Row` per row.
    """
    seq, stream, stream_seq, recorded_at, valid_on, kind, payload, prev_hash, digest = values
    if type(seq) is int and type(stream_seq) is int:  # the usual row, without a problem: straight through
        try:
            if type(recorded_at) is bytes and type(valid_on) is bytes:  # SQLite: every text column as bytes
                return _record(
                    seq=seq,
                    stream=stream.decode(),
                    stream_seq=stream_seq,
                    recorded_at=_stored_instant(recorded_at),
                    valid_on=valid_on.decode(),
                    kind=kind.decode(),
                    payload=payload.decode(),
                    prev_hash=prev_hash.decode(),
                    hash=digest.decode(),
                )
            if (  # PostgreSQL: typed columns
                type(recorded_at) is datetime
                and recorded_at.tzinfo is not None
                and type(valid_on) is date
                and all(type(v) is str for v in (stream, kind, payload, prev_hash, digest))
            ):
                return _record(
                    seq=seq,
                    stream=stream,
                    stream_seq=stream_seq,
                    recorded_at=_format_instant(recorded_at),
                    valid_on=valid_on.isoformat(),
                    kind=kind,
                    payload=payload,
                    prev_hash=prev_hash,
                    hash=digest,
                )
        except (AttributeError, ValueError):
            pass  # something is off (not text, not UTF-8, not an instant): to_row's careful path says what
    return None


_new = object.__new__


def _record(**columns: Any) -> AuditRecord:
    """``AuditRecord(**columns)`` for a row already taken apart, without the dataclass ``__init__``.

    Why: the generated ``__init__`` of a frozen dataclass sets each of the nine fields through
    ``object.__setattr__``, several times slower than filling ``__dict__`` (a million rows per verify).
    """
    record: AuditRecord = _new(AuditRecord)
    record.__dict__.update(columns)
    return record


@functools.lru_cache(maxsize=1024)
def _stored_instant(raw: bytes) -> str:
    """An SQLite instant as the log hashes it; cached since one command's events share it (bounded: flat memory).

    Raises:
        ValueError: not UTF-8, or not an ISO 8601 instant with an offset (not cached).
    """
    return format_instant(_aware(raw.decode()))


# PostgreSQL's instants, likewise (equal instants format alike, whatever their tzinfo).
_format_instant = functools.lru_cache(maxsize=1024)(format_instant)


def _careful(values: tuple[object, ...]) -> Row:
    fields: dict[str, object] = dict(zip(AUDIT_COLUMNS, values, strict=True))
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name in ("seq", "stream_seq"):
        value = fields[name]
        if isinstance(value, int) and not isinstance(value, bool):
            out[name] = value
        else:
            problems.append(f"{name} is {_describe(value)}, not an integer")
            out[name] = -1
    for name in _TEXT_COLUMNS:
        out[name] = _text(name, fields[name], problems)
    recorded_at = fields["recorded_at"]
    if isinstance(recorded_at, datetime):
        out["recorded_at"] = format_instant(recorded_at) if recorded_at.tzinfo is not None else recorded_at.isoformat()
    else:
        text = _text("recorded_at", recorded_at, problems)
        try:
            out["recorded_at"] = format_instant(_aware(text))
        except ValueError:
            problems.append(f"recorded_at {text[:40]!r} is not an ISO 8601 instant with an offset")
            out["recorded_at"] = text
    valid_on = fields["valid_on"]
    if isinstance(valid_on, date) and not isinstance(valid_on, datetime):
        out["valid_on"] = valid_on.isoformat()
    else:
        out["valid_on"] = _text("valid_on", valid_on, problems)
    record = AuditRecord(**out)
    return Row(record=record, problem="; ".join(problems) if problems else None)


def _aware(text: str) -> datetime:
    """An instant stored as text (SQLite: ISO 8601 with an offset; UTC or, in older files, local time).

    Raises:
        ValueError: not an ISO 8601 date-time with an offset.
    """
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return instant


def _text(name: str, value: object, problems: list[str]) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{name} is not valid UTF-8 text")
            return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    problems.append(f"{name} is {_describe(value)}, not text")
    return "" if value is None else str(value)


def _describe(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        shown = value[:20].decode("utf-8", errors="replace")
        return f"{shown!r}"
    return f"{value!r}"[:40]
