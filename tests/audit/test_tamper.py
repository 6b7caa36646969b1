"""The tamper battery: an attacker with write access edits a log of a few thousand events, on both stores.

The append-only triggers are dropped first, as an attacker with the database file or a
superuser login would. Every attack must be caught, by `verify` alone or with a
checkpoint made before it, naming the first bad seq; an attack a database constraint
refuses outright counts as prevented, and the test says which constraint (and then
drops the constraints, as the attacker can, and shows the attack is caught anyway).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from beslut.audit import checkpoint as checkpoints
from beslut.audit import service
from beslut.audit.verify import Report
from beslut.persistence import open_store
from beslut.states.audit_chain import canonical_json
from beslut.workflow import Engine
from tests.audit.attacker import COLUMNS, Attacker, flipped
from tests.audit.conftest import build, sign
from tests.cli.helpers import run
from tests.pg_server import ThrowawayPostgres, psycopg_url, with_database

EVENTS = 3000


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit-template") / "log.db"
    build(str(path), EVENTS)
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: ThrowawayPostgres) -> Iterator[str]:
    name = f"t_audit_template_{uuid.uuid4().hex[:8]}"
    build(postgres_server.create_database(name), EVENTS)
    yield name
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of a log of a few thousand events (copied from a template built once per session)."""
    if request.param == "sqlite":
        target = tmp_path / "log.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield str(target)
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_template")
    name = f"t_audit_{uuid.uuid4().hex[:12]}"
    assert server.url is not None
    with psycopg.connect(psycopg_url(server.url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield with_database(server.url, name)
    finally:
        server.drop_database(name)


@pytest.fixture
def attacker(log_url: str) -> Iterator[Attacker]:
    who = Attacker(log_url)
    who.drop_triggers()
    yield who
    who.close()


def verify(url: str, checkpoint: checkpoints.Checkpoint | None = None) -> Report:
    store = open_store(url, read_only=True)
    try:
        return service.verify_store(store, checkpoint=checkpoint, source="cp.json")
    finally:
        store.close()


def caught(report: Report, seq: int, *checks: str) -> None:
    assert not report.ok, "the attack was not caught"
    assert seq == report.first_bad_seq, report.problem
    if checks:
        assert report.failed_check in checks, report.problem


def test_the_untouched_log_verifies(log_url: str) -> None:
    """The starting point: a few thousand events, interleaved streams, every check passes."""
    report = verify(log_url)
    assert report.ok, report.problem
    assert report.events >= EVENTS
    assert report.streams >= 40


# ---------------------------------------------------------------- one byte in every column


SAMPLE = (1, 2, 777, 1500)


def test_flip_one_bit_in_every_column_of_a_sample_of_rows(attacker: Attacker, log_url: str) -> None:
    """Each column of each sampled row, changed by one bit, is named at that row's seq (or refused by a constraint).

    Integers lose their lowest bit (seq then collides with a neighbour's primary key, and
    stream_seq with the (stream, stream_seq) unique constraint: prevented), text a bit of
    its middle character, an instant one microsecond, a date one day. Each change is undone
    before the next.
    """
    last = attacker.head()
    prevented: dict[str, set[str]] = {}
    for seq in (*SAMPLE, last):
        original = attacker.row(seq)
        for column in COLUMNS:
            value = flipped(original[column])
            refusal = attacker.try_sql(
                f"UPDATE audit_event SET {column} = :value WHERE seq = :seq", {"value": value, "seq": seq}
            )
            if refusal is not None:
                prevented.setdefault(column, set()).add(refusal.split("\n")[0][:60])
                continue
            where = value if column == "seq" else seq
            report = verify(log_url)
            if column == "seq" and seq == 1:
                caught(report, 1, "chain")  # seq 0 sorts first: "expected seq 1, found seq 0"
            else:
                caught(report, seq, "chain", "read")
            attacker.sql(
                f"UPDATE audit_event SET {column} = :value WHERE seq = :where",
                {"value": original[column], "where": where},
            )
        assert verify(log_url).ok
    # Only the keys refuse a one-bit change: seq by the primary key, stream_seq by (stream, stream_seq).
    assert set(prevented) <= {"seq", "stream_seq"}, prevented


@pytest.mark.parametrize("column", ["seq", "stream_seq"])
def test_a_high_bit_in_an_integer_column_is_named(attacker: Attacker, log_url: str, column: str) -> None:
    """A bit that collides with nothing (2**20) moves the row away or breaks its hash: named at its seq."""
    original = attacker.row(1500)[column]
    attacker.set(1500, column, original ^ (1 << 20))
    caught(verify(log_url), 1500, "chain")


def test_text_that_is_not_utf8_is_named_not_a_crash(attacker: Attacker, log_url: str) -> None:
    """SQLite stores whatever bytes it is given: a payload that is not UTF-8 is named at its seq (PostgreSQL refuses it)."""
    if not attacker.sqlite:
        refusal = attacker.try_sql(
            "UPDATE audit_event SET payload = convert_from('\\x7b22ff22'::bytea, 'UTF8') WHERE seq = 900"
        )
        assert refusal is not None
        assert "UTF8" in refusal, refusal
        return
    attacker.sql("UPDATE audit_event SET payload = CAST(X'7B22FF22' AS TEXT) WHERE seq = 900")
    report = verify(log_url)
    caught(report, 900, "read")
    assert "not valid UTF-8" in (report.problem or "")


@pytest.mark.parametrize(
    ("column", "value"),
    [("recorded_at", "yesterday"), ("valid_on", "2022-02-30"), ("payload", "{not json"), ("kind", None)],
)
def test_garbage_in_a_column_is_named_not_a_crash(attacker: Attacker, log_url: str, column: str, value: str) -> None:
    """A value no store would write (not a date, not JSON, NULL) is named at its seq, never a traceback.

    On PostgreSQL the date type and NOT NULL refuse the second and the fourth outright (prevented).
    """
    if attacker.sqlite and value is None:
        attacker.drop_constraints()  # NOT NULL goes with the rebuilt table
    statement = f"UPDATE audit_event SET {column} = :value WHERE seq = 1200"
    refusal = attacker.try_sql(statement, {"value": value})
    if refusal is not None:  # prevented: only PostgreSQL's types and NOT NULL refuse these
        assert not attacker.sqlite, refusal
        assert column in ("valid_on", "kind"), refusal
        return
    caught(verify(log_url), 1200, "chain", "read")  # PostgreSQL takes 'yesterday' as a timestamp: a changed instant
    shown = run("audit", "log", "--json", db=log_url)  # the log is still shown as it is, not a traceback
    assert 0 == shown.code, shown.stderr
    assert 1200 == shown.json()[1199]["seq"]


# ---------------------------------------------------------------- rows removed, added, moved


def test_delete_a_row(attacker: Attacker, log_url: str) -> None:
    """A deleted row is a gap in seq: named at the missing seq."""
    attacker.sql("DELETE FROM audit_event WHERE seq = 1234")
    report = verify(log_url)
    caught(report, 1234, "chain")
    assert "expected seq 1234, found seq 1235" in (report.problem or "")


def test_swap_two_rows(attacker: Attacker, log_url: str) -> None:
    """Two rows that trade places break the chain at the earlier one."""
    attacker.sql("UPDATE audit_event SET seq = -1 WHERE seq = 1000")
    attacker.sql("UPDATE audit_event SET seq = 1000 WHERE seq = 2000")
    attacker.sql("UPDATE audit_event SET seq = 2000 WHERE seq = -1")
    caught(verify(log_url), 1000, "chain")


def test_duplicate_a_row_is_prevented_by_the_keys_and_caught_without_them(attacker: Attacker, log_url: str) -> None:
    """A copy of a row is refused by the primary key (same seq) and by the unique hash (a new seq).

    With the constraints dropped, the copy is caught: in place, at the seq after the
    original; appended at the end, at its own (new) seq, whose hash no longer matches.
    """
    columns = ", ".join(COLUMNS)
    copy_same = f"INSERT INTO audit_event ({columns}) SELECT {columns} FROM audit_event WHERE seq = 700"
    refusal = attacker.try_sql(copy_same)
    assert refusal is not None
    assert "UNIQUE" in refusal or "duplicate key" in refusal, refusal
    last = attacker.head()
    others = ", ".join(c for c in COLUMNS if c != "seq")
    copy_new = f"INSERT INTO audit_event ({columns}) SELECT {last + 1}, {others} FROM audit_event WHERE seq = 700"
    refusal = attacker.try_sql(copy_new)
    assert refusal is not None
    assert "UNIQUE" in refusal or "duplicate key" in refusal, refusal

    attacker.drop_constraints()
    assert attacker.try_sql(copy_new) is None
    caught(verify(log_url), last + 1, "chain")
    attacker.sql(f"DELETE FROM audit_event WHERE seq = {last + 1}")
    assert verify(log_url).ok
    assert attacker.try_sql(copy_same) is None
    report = verify(log_url)
    caught(report, 701, "chain")
    assert "expected seq 701, found seq 700" in (report.problem or "")


def test_forged_row_with_rehashed_chain_that_is_not_a_legal_transition(attacker: Attacker, log_url: str) -> None:
    """A forged decision inserted with every hash recomputed from there: the chain holds, the machines refuse it."""
    records = attacker.records()
    decided = next(r for r in records[1000:] if r.kind == "party.decided")
    seq, stream_seq = decided.seq + 1, decided.stream_seq + 1
    attacker.make_room(seq, decided.stream, stream_seq)
    forged = attacker.row(decided.seq)
    payload = json.loads(forged["payload"])
    payload["outcome"] = "rejected" if payload["outcome"] != "rejected" else "approved"
    payload.pop("conditions", None)
    forged.update(seq=seq, stream_seq=stream_seq, payload=canonical_json(payload))
    forged["hash"] = "f" * 64
    attacker.insert(forged)
    attacker.rehash_from(seq)
    report = verify(log_url)
    caught(report, seq, "transition")
    assert "party.decided is not a legal transition" in (report.problem or "")


def test_forged_row_that_is_legal_is_caught_with_a_checkpoint(attacker: Attacker, log_url: str, tmp_path: Path) -> None:
    """A forged, legal event (a second committee proposal) with the chain re-hashed passes `verify` alone;
    the checkpoint made before it proves the log changed, within a range that starts at or before it."""
    signed = sign(log_url, tmp_path)
    records = attacker.records()
    proposed = next(r for r in records[1800:] if r.kind == "party.proposed")
    seq, stream_seq = proposed.seq + 1, proposed.stream_seq + 1
    attacker.make_room(seq, proposed.stream, stream_seq)
    forged = attacker.row(proposed.seq)
    forged.update(seq=seq, stream_seq=stream_seq, hash="e" * 64)
    attacker.insert(forged)
    attacker.rehash_from(seq)
    assert verify(log_url).ok  # legal all the way: only the checkpoint can tell
    report = verify(log_url, signed)
    assert not report.ok
    assert report.failed_check == "checkpoint"
    assert report.first_bad_range is not None
    low, high = report.first_bad_range
    assert low <= seq <= high
    assert report.first_bad_seq == low
    assert "is within seq" in (report.problem or "")


# ---------------------------------------------------------------- attacks only a checkpoint can see


def test_truncate_the_tail(attacker: Attacker, log_url: str, tmp_path: Path) -> None:
    """Removing the newest events leaves a valid chain; the checkpoint names the first missing seq."""
    signed = sign(log_url, tmp_path)
    keep = signed.tree_size - 25
    attacker.sql("DELETE FROM audit_event WHERE seq > :keep", {"keep": keep})
    assert verify(log_url).ok
    report = verify(log_url, signed)
    caught(report, keep + 1, "checkpoint")
    assert f"it ends at seq {keep}" in (report.problem or "")
    assert (keep + 1, signed.tree_size) == report.first_bad_range


def test_truncate_then_append_new_events(attacker: Attacker, log_url: str, tmp_path: Path) -> None:
    """Truncating and appending as many new events (re-hashed) as were removed: the subtree with them differs."""
    signed = sign(log_url, tmp_path)
    start = signed.tree_size - 9
    attacker.sql(
        'UPDATE audit_event SET payload = replace(payload, \'"actor":"bench"\', \'"actor":"mallory"\')'
        " WHERE seq >= :start",
        {"start": start},
    )
    attacker.rehash_from(start)
    assert verify(log_url).ok
    report = verify(log_url, signed)
    assert not report.ok
    assert report.failed_check == "checkpoint"
    assert report.first_bad_range is not None
    assert report.first_bad_range[0] <= start <= report.first_bad_range[1]


def test_rewrite_everything_after_a_point(attacker: Attacker, log_url: str, tmp_path: Path) -> None:
    """A case number changed at seq P and every later hash recomputed: legal, a consistent chain;
    the checkpoint proves every seq before the first differing subtree unchanged and names that range."""
    signed = sign(log_url, tmp_path)
    records = attacker.records()
    target = next(r for r in records[2100:] if r.kind == "party.prepared")
    attacker.set(target.seq, "payload", target.payload.replace('"case_number":"KS', '"case_number":"KF'))
    attacker.rehash_from(target.seq)
    assert verify(log_url).ok
    report = verify(log_url, signed)
    assert not report.ok
    assert report.failed_check == "checkpoint"
    assert report.first_bad_range is not None
    low, high = report.first_bad_range
    assert low <= target.seq <= high
    # Everything before the range is proven unchanged; the range is one of the signed subtrees.
    assert (low - 1, high) in checkpoints.subtree_ranges(signed.tree_size)


def test_rewrite_that_later_stops_adding_up(attacker: Attacker, log_url: str, tmp_path: Path) -> None:
    """An approval turned into a rejection, re-hashed: `verify` alone names the consolidation that no longer
    adds up; with the checkpoint it names the earlier, signed range holding the change."""
    signed = sign(log_url, tmp_path)
    records = attacker.records()
    annulled = {(r.stream, json.loads(r.payload)["party"]) for r in records if r.kind == "party.decision_annulled"}
    target = next(
        r
        for r in records[1600:]
        if r.kind == "party.decided"
        and '"outcome":"approved"' in r.payload
        and (r.stream, json.loads(r.payload)["party"]) not in annulled
    )
    attacker.set(target.seq, "payload", target.payload.replace('"outcome":"approved"', '"outcome":"rejected"'))
    attacker.rehash_from(target.seq)
    alone = verify(log_url)
    assert not alone.ok
    assert alone.failed_check == "transition"
    assert alone.first_bad_seq is not None
    assert alone.first_bad_seq > target.seq
    with_checkpoint = verify(log_url, signed)
    assert with_checkpoint.first_bad_range is not None
    assert with_checkpoint.first_bad_range[0] <= target.seq <= with_checkpoint.first_bad_range[1]
    assert with_checkpoint.first_bad_seq is not None
    assert with_checkpoint.first_bad_seq <= target.seq


def test_rehash_the_whole_chain(attacker: Attacker, log_url: str, tmp_path: Path) -> None:
    """The first event changed and every hash recomputed: the checkpoint says the log is another (or rewritten)."""
    signed = sign(log_url, tmp_path)
    first = attacker.records()[0]
    attacker.set(1, "payload", first.payload.replace('"title":"Mini-Maria', '"title":"Maxi-Maria'))
    attacker.rehash_from(1)
    assert verify(log_url).ok
    report = verify(log_url, signed)
    caught(report, 1, "checkpoint")
    assert "another log" in (report.problem or "")


def test_the_cli_names_the_seq_and_exits_4(attacker: Attacker, log_url: str) -> None:
    """Through the command line: one error line naming the seq, exit 4, nothing on stdout."""
    attacker.sql("DELETE FROM audit_event WHERE seq = 2500")
    result = run("audit", "verify", db=log_url)
    assert 4 == result.code
    assert result.stderr.startswith("error: audit log broken at seq 2500: expected seq 2500")
    assert 1 == len(result.error_lines)
    assert "" == result.stdout


# ---------------------------------------------------------------- one row rewritten, only its own hash recomputed


def test_one_row_rehashed_alone_breaks_the_next_link_and_every_verifier_names_that_seq(
    attacker: Attacker, log_url: str
) -> None:
    """Row 1500's payload rewritten and ITS hash recomputed, later rows left as they were.

    Row 1500 is consistent in itself (its hash is its content's), so only the link of row 1501
    (prev_hash, still row 1500's old hash) shows the change: a verifier without the link check
    passes this log. All three verifiers must name seq 1501: the auditor's (service.verify_store,
    what `beslut audit verify` runs, in one process and on two), Engine.verify_audit
    (beslut.states.audit_chain.verify_chain) and the command line (exit 4).
    """
    seq = 1500
    old = attacker.records()[seq - 1]
    payload = old.payload.replace('"actor":"bench"', '"actor":"mallory"', 1)
    assert payload != old.payload, old.payload
    attacker.set(seq, "payload", payload)
    attacker.set(seq, "hash", replace(old, payload=payload).recompute_hash())
    rewritten = attacker.records()[seq - 1]
    assert rewritten.hash == rewritten.recompute_hash() != old.hash  # the row alone is consistent
    assert attacker.records()[seq].prev_hash == old.hash  # the next row still links to the old hash

    report = verify(log_url)
    caught(report, seq + 1, "chain")
    assert f"does not match the hash of seq {seq}" in (report.problem or "")
    assert report.events == seq  # every row up to the rewritten one passed on its own

    store = open_store(log_url, read_only=True)
    try:
        assert service.verify_store(store, parallel=True).as_dict() == report.as_dict()
    finally:
        store.close()

    with Engine.open(log_url) as engine:
        chain = engine.verify_audit()
    assert (False, seq + 1, seq) == (chain.ok, chain.first_bad_seq, chain.events), chain.problem
    assert f"does not match the hash of seq {seq}" in (chain.problem or "")

    result = run("audit", "verify", db=log_url)
    assert (4, "") == (result.code, result.stdout)
    assert 1 == len(result.error_lines)
    assert result.stderr.startswith(f"error: audit log broken at seq {seq + 1}: prev_hash "), result.stderr
