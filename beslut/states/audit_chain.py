r"""The audit log's hash chain: canonical bytes, hashes and the checks an auditor runs.

Pure functions over plain records, so the same code verifies a live database, a
read-only copy or an exported JSON Lines file. Each event's hash is
``sha256(RFC 8785 canonical JSON of {seq, stream, stream_seq, recorded_at,
valid_on, kind, payload, prev_hash})``; the first event's ``prev_hash`` is 64 zeros.
A change to any column of any row, a deleted, inserted, swapped or duplicated row
breaks the chain at that row, which :func:`verify_chain` names.

One encoder serves the writer and the one chain check (:class:`ChainChecker`): RFC 8785 text
built with the C-accelerated :mod:`json` encoder, which gives the very same bytes for every
value the log holds. RFC 8785 sorts object keys by UTF-16 code units and escapes strings exactly as
``json.dumps(ensure_ascii=False)`` does (the same seven short escapes, ``\\u00xx`` in lower
case for the other control characters, nothing else); the two differ only for floats,
integers beyond ±(2**53 - 1), keys that are not strings, characters outside the Basic
Multilingual Plane (sorted differently) and lone surrogates. A value with any of those is
handed to the `rfc8785` library itself (which refuses most of them), so the fast path can
never produce text RFC 8785 would not. Tests hold the two equal on awkward values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any, Final

import orjson
import rfc8785

from beslut.clock import STOCKHOLM
from beslut.states.case import Event

GENESIS_HASH: Final = "0" * 64


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One row of `audit_event`, with every column as the auditor sees it (text, not objects)."""

    seq: int
    stream: str
    stream_seq: int
    recorded_at: str
    valid_on: str
    kind: str
    payload: str
    prev_hash: str
    hash: str

    def recompute_hash(self) -> str:
        """The hash this record's columns give (compare with :attr:`hash` to see it untouched)."""
        return compute_hash(
            seq=self.seq,
            stream=self.stream,
            stream_seq=self.stream_seq,
            recorded_at=self.recorded_at,
            valid_on=self.valid_on,
            kind=self.kind,
            payload=self.payload,
            prev_hash=self.prev_hash,
        )

    def as_dict(self) -> dict[str, Any]:
        """The record as a JSON object (payload parsed), as `audit log --json` prints it."""
        return {
            "seq": self.seq,
            "stream": self.stream,
            "stream_seq": self.stream_seq,
            "recorded_at": self.recorded_at,
            "valid_on": self.valid_on,
            "kind": self.kind,
            "payload": json.loads(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


_MAX_INT: Final = 2**53 - 1


def _make_encoder() -> Callable[[Any], str]:
    """The C encoder with RFC 8785's separators and key order, built once (``json.dumps`` builds it per call)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder gives the same text
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode
    encode = make(None, None, encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(encode(value, 0))


_encode: Final = _make_encoder()


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON text of *value* (no floats allowed in the audit log).

    Raises:
        TypeError: a float anywhere in *value*.
        ValueError: *value* has no RFC 8785 form (an integer beyond ±(2**53 - 1), a lone surrogate, …).
    """
    if _plain(value):
        return _encode(value)
    _refuse_floats(value)  # _plain stops at the first thing it cannot decide, which may come before a float
    text: str = rfc8785.dumps(value).decode("utf-8")
    return text


def _plain(value: Any) -> bool:
    """True when the fast encoder gives RFC 8785's text for *value*; False: ask the library.

    Raises:
        TypeError: a float anywhere in *value*.
    """
    kind = type(value)
    if kind is str:
        return _bmp(value)
    if kind is dict:
        return all(type(k) is str and _bmp(k) and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is int:
        return bool(-_MAX_INT <= value <= _MAX_INT)
    if value is None or kind is bool:
        return True
    _refuse_floats(value)
    return False  # a tuple, a subclass, anything else: the library decides


def _bmp(text: str) -> bool:
    """True when *text* has no character outside the Basic Multilingual Plane and no lone surrogate."""
    if text.isascii():
        return True
    try:
        return len(text.encode("utf-16-le")) == 2 * len(text)
    except UnicodeEncodeError:
        return False


class _NotPlain(Exception):
    """The fast parser cannot decide; the library must."""


def _refuse_number(_text: str) -> Any:
    raise _NotPlain


def _small_int(text: str) -> int:
    value = int(text)
    if len(text) > 15 and not -_MAX_INT <= value <= _MAX_INT:
        raise _NotPlain
    return value


_DECODER: Final = json.JSONDecoder(parse_float=_refuse_number, parse_constant=_refuse_number, parse_int=_small_int)


# A float in compact JSON starts a value: a member's (after ":") or a list item's (after "[" or ","; in an object a
# "," is followed by a key, never a number). The first search is quick (a literal first character), the second is
# run only on text with a list in it.
_FLOAT_MEMBER: Final = re.compile(r":-?[0-9]+[.eE]")
_FLOAT_ITEM: Final = re.compile(r"[,[]-?[0-9]+[.eE]")
_ORJSON_CANONICAL: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def parse_payload(payload: str) -> tuple[Any, bool]:
    """Parse a stored payload; also say whether it is certainly RFC 8785 canonical (False: not decided here).

    The usual payload (no float, integers within ±(2**53 - 1), only BMP characters) is parsed and written
    again by orjson, faster than :mod:`json` (a verifier parses every payload of the log): orjson writes
    such a value exactly as :func:`canonical_json` does (the same escapes, tested over every BMP character;
    keys sorted by code point, which is UTF-16 order inside the BMP; integers beyond 53 bits refused), so equal
    text proves the payload canonical. Anything else, or a payload that is not equal, takes the path below,
    which decides and words every refusal as before.

    Raises:
        ValueError: not JSON.
    """
    if payload[:1] == "{" and _no_float(payload) and _bmp(payload):
        try:
            value = orjson.loads(payload)
            if orjson.dumps(value, option=_ORJSON_CANONICAL) == payload.encode():
                return value, True
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, UnicodeEncodeError):
            pass
    if _bmp(payload):
        try:
            value = _DECODER.decode(payload)
        except _NotPlain:
            pass
        else:
            return value, _encode(value) == payload
    return json.loads(payload), False


def _no_float(text: str) -> bool:
    """True when the JSON object *text* in compact form holds no float (text in another form is never canonical)."""
    if _FLOAT_MEMBER.search(text) is not None:
        return False
    return "[" not in text or _FLOAT_ITEM.search(text) is None


def is_canonical(payload: str, parsed: Any, known: bool) -> bool:
    """True when *payload* is RFC 8785's form of *parsed* (*known*: :func:`parse_payload` already said so).

    Raises:
        TypeError, ValueError: *parsed* cannot be canonicalised (a float, a huge integer, a lone surrogate).
    """
    return known or canonical_json(parsed) == payload


def format_instant(instant: datetime) -> str:
    """An instant as stored in the log: ISO 8601 in Europe/Stockholm with microseconds and offset."""
    if instant.tzinfo is None:
        raise ValueError("audit instants must be aware")
    return instant.astimezone(STOCKHOLM).isoformat(timespec="microseconds")


def compute_hash(
    *,
    seq: int,
    stream: str,
    stream_seq: int,
    recorded_at: str,
    valid_on: str,
    kind: str,
    payload: str,
    prev_hash: str,
) -> str:
    """The sha256 (hex) of one event chained to *prev_hash*.

    The hashed bytes are the RFC 8785 form of ``{kind, payload, prev_hash, recorded_at,
    seq, stream, stream_seq, valid_on}`` with *payload* as the JSON object it encodes.
    Because a stored payload is already canonical, the object is assembled around its
    text in RFC 8785 key order instead of being parsed and serialised again
    (:func:`hash_content` is the slow, obviously-right form; a test keeps them equal).
    """
    try:
        text = (
            f'{{"kind":{_string(kind)},"payload":{payload},"prev_hash":{_string(prev_hash)},'
            f'"recorded_at":{_string(recorded_at)},"seq":{int(seq)},"stream":{_string(stream)},'
            f'"stream_seq":{int(stream_seq)},"valid_on":{_string(valid_on)}}}'
        ).encode()
    except UnicodeEncodeError:  # a lone surrogate: the library says what is wrong
        text = hash_content(
            seq=seq,
            stream=stream,
            stream_seq=stream_seq,
            recorded_at=recorded_at,
            valid_on=valid_on,
            kind=kind,
            payload=payload,
            prev_hash=prev_hash,
        )
    return hashlib.sha256(text).hexdigest()


def hash_content(
    *,
    seq: int,
    stream: str,
    stream_seq: int,
    recorded_at: str,
    valid_on: str,
    kind: str,
    payload: str,
    prev_hash: str,
) -> bytes:
    """The canonical bytes an event's hash covers, built the slow way with the `rfc8785` library."""
    content = {
        "seq": seq,
        "stream": stream,
        "stream_seq": stream_seq,
        "recorded_at": recorded_at,
        "valid_on": valid_on,
        "kind": kind,
        "payload": json.loads(payload),
        "prev_hash": prev_hash,
    }
    encoded: bytes = rfc8785.dumps(content)
    return encoded


# RFC 8785's form of a string is json's (ensure_ascii=False) for every string; a lone surrogate fails at encoding.
_string: Final = encode_basestring


def seal(
    *,
    seq: int,
    stream: str,
    stream_seq: int,
    recorded_at: str,
    valid_on: str,
    kind: str,
    payload: Any,
    prev_hash: str,
) -> AuditRecord:
    """Build the record for a new event after the head (*seq* - 1, *prev_hash*)."""
    text = canonical_json(payload)
    digest = compute_hash(
        seq=seq,
        stream=stream,
        stream_seq=stream_seq,
        recorded_at=recorded_at,
        valid_on=valid_on,
        kind=kind,
        payload=text,
        prev_hash=prev_hash,
    )
    return AuditRecord(
        seq=seq,
        stream=stream,
        stream_seq=stream_seq,
        recorded_at=recorded_at,
        valid_on=valid_on,
        kind=kind,
        payload=text,
        prev_hash=prev_hash,
        hash=digest,
    )


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the log as read: the record, or (when the row cannot be one) what is wrong with it.

    The store's raw rows become these in :mod:`beslut.workflow.audit_log`; the checks take them as they come.
    """

    record: AuditRecord
    problem: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    """What :func:`verify_chain` found: ok, or the first bad seq and what is wrong with it."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as `audit verify --json` prints it."""
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


def verify_chain(records: Iterable[AuditRecord]) -> ChainReport:
    """Check the chain, a gap-free global seq from 1, and a gap-free stream_seq per stream.

    *records* must come ordered by seq (as the store returns them); a row out of
    order shows up as a seq gap at that row. Only the chain: :class:`ChainChecker` over the records
    (the auditor's verification adds the transitions, :mod:`beslut.states.verification`).
    """
    chain = ChainChecker()
    for record in records:
        problem, _ = chain.check(record)
        if problem is not None:
            return chain.report(problem)
        chain.accept(record)
    return chain.report()


class ChainChecker:
    """The one check of the hash chain, one record at a time in seq order; :meth:`accept` the ones that pass.

    seq gap-free from 1, ``prev_hash`` is the previous event's hash, the payload is JSON in RFC 8785
    canonical form, the hash matches the content, ``stream_seq`` gap-free per stream. Every reader of the log
    feeds this class: :func:`verify_chain`, the auditor's verification and replay, the two-process parts
    (:meth:`link` on every row, :meth:`check_content` on their own), the checkpoint's extension (which starts
    after a signed head, :meth:`resume`) and the export.

    Why incremental: the auditor's verifier streams a million events and runs more checks on each accepted
    record (transitions, the Merkle tree), so it needs the chain check as a step, and the payload it parsed.
    """

    __slots__ = ("count", "expected_seq", "from_middle", "prev_hash", "stream_heads")

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.stream_heads: dict[str, int] = {}
        self.count = 0
        self.from_middle = False

    @classmethod
    def resume(cls, seq: int, head_hash: str) -> ChainChecker:
        """A checker that goes on after event *seq* whose hash is *head_hash* (a signed checkpoint's head).

        The streams' heads before that point are not known: a stream's first record after it sets its head
        (whoever resumes must check those streams' earlier events otherwise, as the checkpoint's extension
        replays them).
        """
        chain = cls()
        chain.expected_seq, chain.prev_hash, chain.from_middle = seq + 1, head_hash, True
        return chain

    def link(self, seq: object, prev_hash: str) -> str | None:
        """What is wrong with a row of *seq* and *prev_hash* as the next event's place in the chain (None: nothing)."""
        if seq != self.expected_seq:
            return f"expected seq {self.expected_seq}, found seq {seq} (a row is missing, duplicated or moved)"
        if prev_hash != self.prev_hash:
            return f"prev_hash {prev_hash[:12]}… does not match the hash of seq {self.expected_seq - 1}"
        return None

    def check(self, record: AuditRecord) -> tuple[str | None, Any]:
        """What is wrong with *record* as the next event (None if nothing), and its parsed payload."""
        if record.seq != self.expected_seq or record.prev_hash != self.prev_hash:  # only then :meth:`link` words it
            return self.link(record.seq, record.prev_hash), None
        return self.check_content(record)

    def check_content(self, record: AuditRecord) -> tuple[str | None, Any]:
        """The checks of :meth:`check` that need only *record* and its stream's head, not the previous row.

        Why apart: a part of a parallel verification (:mod:`beslut.audit.parallel`) checks every row's seq
        and link (:meth:`link`) but the content only of its own streams' rows.
        """
        try:
            parsed, known = parse_payload(record.payload)
        except (TypeError, ValueError):
            return "payload is not valid JSON", None
        try:
            if not is_canonical(record.payload, parsed, known):
                return "payload is not in RFC 8785 canonical form", None
            digest = record.recompute_hash()
        except (TypeError, ValueError) as error:
            return f"event cannot be hashed: {error}", None
        if digest != record.hash:
            return "hash does not match the event's content", None
        head = self.stream_heads.get(record.stream)
        expected_stream_seq = (record.stream_seq if self.from_middle else 1) if head is None else head + 1
        if record.stream_seq != expected_stream_seq:
            found = record.stream_seq
            return f"stream {record.stream!r}: expected stream_seq {expected_stream_seq}, found {found}", None
        return None, parsed

    def accept(self, record: AuditRecord) -> None:
        """Make *record* the head."""
        self.stream_heads[record.stream] = record.stream_seq
        self.prev_hash = record.hash  # :meth:`advance`, without the call: once per event of the log
        self.expected_seq += 1
        self.count += 1

    def advance(self, head_hash: str) -> None:
        """Make the row whose :meth:`link` passed, of hash *head_hash*, the head (streams left to the caller)."""
        self.prev_hash = head_hash
        self.expected_seq += 1
        self.count += 1

    def report(self, problem: str | None = None, first_bad_seq: int | None = None) -> ChainReport:
        """The chain so far as a report: ok, or *problem* at *first_bad_seq* (default: the next seq, where it broke)."""
        if problem is None:
            return ChainReport(ok=True, events=self.count, head_seq=self.expected_seq - 1, head_hash=self.prev_hash)
        return ChainReport(
            ok=False,
            events=self.count,
            head_seq=self.expected_seq - 1,
            head_hash=self.prev_hash,
            first_bad_seq=self.expected_seq if first_bad_seq is None else first_bad_seq,
            problem=problem,
        )


def whole_chain_summary(
    *, rows: int, distinct: int, integers: int, first: object, last: object, linked: int, genesis: bool, last_seq: int
) -> bool:
    """True when a database's summary of rows 1..*last_seq* says what :class:`ChainChecker`'s links would.

    That is: seq 1..last_seq each once, each row's ``prev_hash`` the ``hash`` of the row before, the first
    one's the genesis hash.

    The two-process replay has the database count and join rather than reading every row
    (:func:`beslut.persistence.audit_chain_summary`); here is the same rule stated for that summary.
    """
    whole = rows == distinct == integers == last_seq and first == 1 and last == last_seq
    return whole and linked == last_seq - 1 and genesis


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in the audit log; use decimal strings")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def event_from_record(record: AuditRecord) -> Event:
    """The domain event an audit record holds."""
    return Event(
        kind=record.kind,
        stream=record.stream,
        valid_on=date.fromisoformat(record.valid_on),
        payload=json.loads(record.payload),
    )
