"""Schema migrations (Alembic): upgrading real databases of the previous release, on both stores.

The fixtures in tests/fixtures/ were written by the last release before Alembic (its
own code, see build_prev_release.py): an SQLite file and a plain-SQL ``pg_dump`` holding
the Mini-Maria demo, a recommendation in progress, contacts, deadlines, outbox messages
and a heartbeat. Each is restored on a real store, upgraded with ``beslut db upgrade``,
and then must verify, answer ``status`` as the old release did, replay to the live
tables and take new commands. The rest pins the rules: one linear head, migrations ==
_tables.py (so a table added without a revision fails here), refusal of databases behind
or ahead, one transaction (a failing revision changes nothing), idempotence, the
PostgreSQL advisory lock / SQLite write lock between concurrent upgrades.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text

from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import _tables as t
from beslut.persistence import open_store
from beslut.persistence import schema as sch
from beslut.workflow import Engine
from tests.cli.helpers import SCRIPT, run
from tests.pg_server import find_bindir, psycopg_url

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PREV_SQLITE = FIXTURES / "prev_release.sqlite"
PREV_PG_DUMP = FIXTURES / "prev_release.pg.sql"
PREV_STATUS = FIXTURES / "prev_release.status.json"
IN_PROGRESS = "fixture-2022-in-progress"
PREV_TABLES = {
    "audit_event", "beslut_meta", "contact", "deadline", "outbox", "party_decision", "recommendation",
    "scheduler_heartbeat",
}  # fmt: skip
LATER = datetime(2026, 2, 1, 12, 0, tzinfo=STOCKHOLM)


# ---------------------------------------------------------------- helpers


def sa_url(db: str) -> str:
    return db if "://" in db else f"sqlite:///{db}"


@pytest.fixture
def connect() -> Iterator[Any]:
    """``connect(db)``: a plain SQLAlchemy connection (no beslut store), closed after the test."""
    engines = []

    def _connect(db: str) -> Connection:
        engine = create_engine(sa_url(db))
        engines.append(engine)
        return engine.connect()

    yield _connect
    for engine in engines:
        engine.dispose()


def restore_previous_release(db: str) -> None:
    """Put the previous release's database at *db*: copy the SQLite file, or psql the plain dump."""
    if "://" not in db:
        shutil.copyfile(PREV_SQLITE, db)
        return
    psql = str(Path(find_bindir()) / "psql")
    done = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psycopg_url(db), "-f", str(PREV_PG_DUMP)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def raw_dump(db: str) -> dict[str, list[dict[str, object]]]:
    """Every row of every table the database HAS (not what _tables.py says), as dicts, in a stable order."""
    engine = create_engine(sa_url(db))
    try:
        with engine.connect() as connection:
            out = {}
            for table in sorted(inspect(connection).get_table_names()):
                rows = connection.execute(text(f'SELECT * FROM "{table}"')).mappings().all()
                out[table] = _ordered(dict(r) for r in rows)
            return out
    finally:
        engine.dispose()


def _ordered(rows: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(rows, key=lambda row: repr(sorted(row.items())))


def kept(before: dict[str, list[dict[str, object]]], after: dict[str, list[dict[str, object]]], table: str) -> None:
    """Every row of *table* is still there with the values it had (later revisions may add columns)."""
    columns = set(before[table][0]) if before[table] else set()
    projected = _ordered({k: v for k, v in row.items() if k in columns} for row in after[table])
    assert before[table] == projected, table


def metadata_diff(connection: Connection) -> list[Any]:
    """What Alembic autogenerate would write to bring the database to _tables.py (empty: nothing)."""

    def include(_obj: object, name: str | None, type_: str, _reflected: bool, _other: object) -> bool:
        return not (type_ == "table" and name == "alembic_version")

    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include})
    diff: list[Any] = compare_metadata(context, t.METADATA)
    return diff


def schema_shape(connection: Connection) -> dict[str, Any]:
    """Tables, columns, keys, indexes, unique constraints and triggers, normalised for comparing two databases."""
    insp = inspect(connection)
    shape: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        shape[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    shape["triggers"] = triggers(connection)
    return shape


def triggers(connection: Connection) -> list[tuple[str, ...]]:
    if connection.dialect.name == "sqlite":
        rows = connection.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"))
        return sorted((name, table, " ".join(sql.split())) for name, table, sql in rows)
    rows = connection.execute(
        text(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"
            " UNION ALL SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'beslut%'"
        )
    )
    return sorted((name, " ".join(definition.split())) for name, definition in rows)


def contains(new: Any, old: Any, where: str = "") -> None:
    """*new* says everything *old* says (JSON contracts are extended, never changed)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for key, value in old.items():
            assert key in new, f"{where}.{key} missing"
            contains(new[key], value, f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list), where
        assert len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            contains(a, b, f"{where}[{i}]")
    else:
        assert new == old, f"{where}: {new!r} != {old!r}"


def created_database(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second database of the same kind, made by create_schema (what `beslut init` does)."""
    if "://" in store_url:  # on the same server (dropped with the server at the end of the session)
        server = request.getfixturevalue("postgres_server")
        created_url: str = server.create_database(f"created_{time.time_ns() % 10**12}")
    else:
        created_url = str(tmp_path / "created.db")
    created = open_store(created_url)
    assert created.create_schema()
    created.close()
    return created_url


def extra_revision(tmp_path: Path, body: str, revision: str = "9001") -> Path:
    """A copy of the shipped migrations with one more revision on top of head (a "next release")."""
    location = tmp_path / "migrations"
    shutil.copytree(sch.MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    head = sch.head_revision()
    (location / "versions" / f"v{revision}_extra.py").write_text(
        f'"""A test revision."""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {revision!r}\ndown_revision = {head!r}\nbranch_labels = None\ndepends_on = None\n\n"
        f"def upgrade() -> None:\n{body}\n\ndef downgrade() -> None:\n    pass\n",
        encoding="utf-8",
    )
    return location


# The kind of change the next developer will write: a NOT NULL column on a table other
# tables reference, in batch mode (SQLite re-creates `recommendation` under party_decision's
# and deadline's foreign keys), filled from the existing rows.
ADD_COLUMN = """
    with op.batch_alter_table("recommendation") as batch:
        batch.add_column(sa.Column("note", sa.String(40), nullable=False, server_default="x"))
    op.execute("UPDATE recommendation SET note = substr(key, 1, 10)")
"""


# ---------------------------------------------------------------- the revisions themselves


def test_one_linear_head_from_the_baseline() -> None:
    script = ScriptDirectory.from_config(sch.alembic_config())
    assert [sch.head_revision()] == list(script.get_heads())
    walked = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert [step.revision for step in sch.chain()] == list(reversed(walked))  # our ast reading == Alembic's
    assert sch.BASELINE == sch.chain()[0].revision
    assert sch.chain()[0].down_revision is None


def test_a_branch_is_refused(tmp_path: Path) -> None:
    location = extra_revision(tmp_path, "    pass", revision="9001")
    (location / "versions" / "v9002_extra.py").write_text(
        (location / "versions" / "v9001_extra.py").read_text().replace("'9001'", "'9002'"), encoding="utf-8"
    )
    with pytest.raises(Exception, match="branch after"):
        sch.chain(location)


def test_the_migrations_ship_inside_the_package() -> None:
    assert sch.MIGRATIONS.is_relative_to(Path(sch.__file__).parent)
    assert (sch.MIGRATIONS / "env.py").is_file()
    assert (sch.MIGRATIONS / "script.py.mako").is_file()
    assert not list(Path(sch.__file__).parents[2].glob("alembic.ini"))


def test_migrated_from_nothing_equals_tables_py_and_create_schema(
    store_url: str, tmp_path: Path, connect: Any, request: pytest.FixtureRequest
) -> None:
    """The migrations ARE the schema: no table, column, index or trigger only one of them has."""
    # the database made by migrations
    if "://" not in store_url:
        Path(store_url).touch()
    migrated = open_store(store_url)
    result = sch.upgrade(migrated)
    migrated.close()
    assert "empty" == result.before.status
    assert [s.revision for s in sch.chain()] == result.applied
    created_url = created_database(store_url, tmp_path, request)
    with connect(store_url) as a, connect(created_url) as b:
        assert [] == metadata_diff(a), "a table or column in _tables.py has no migration (or the reverse)"
        assert [] == metadata_diff(b)
        assert schema_shape(a) == schema_shape(b)
        assert len(triggers(a)) >= 2
    assert raw_dump(store_url) == raw_dump(created_url)  # schema_version row and alembic_version alike


def test_init_creates_the_database_at_head(store_url: str, connect: Any) -> None:
    assert 0 == run("init", db=store_url).code
    current = run("db", "current", "--json", db=store_url).json()
    assert {"current": sch.head_revision(), "head": sch.head_revision(), "status": "current"}.items() <= current.items()
    with connect(store_url) as connection:
        assert [] == metadata_diff(connection)
    assert 0 == run("status", db=store_url).code


def test_downgrade_of_the_baseline_empties_the_database(store_url: str, connect: Any) -> None:
    """Developers only (docs/migrations.md): base -> head -> base -> head on an empty database."""
    if "://" not in store_url:
        Path(store_url).touch()
    store = open_store(store_url)
    sch.upgrade(store)
    with store.engine.connect() as connection, connection.begin():  # type: ignore[attr-defined]
        command.downgrade(sch.alembic_config(connection), "base")
    with connect(store_url) as connection:
        assert {"alembic_version"} == set(inspect(connection).get_table_names())
        assert [] == triggers(connection)
    assert sch.chain()[-1].revision == sch.upgrade(store).after.current
    store.close()


# ---------------------------------------------------------------- the previous release's databases


def test_previous_release_database_upgrades_with_its_data(
    store_url: str, tmp_path: Path, connect: Any, request: pytest.FixtureRequest
) -> None:
    restore_previous_release(store_url)
    before = raw_dump(store_url)
    assert PREV_TABLES == set(before)
    assert len(before["audit_event"]) == 101
    assert len(before["outbox"]) == 11
    assert before["deadline"]
    assert [{"key": "schema_version", "value": "2"}] == before["beslut_meta"]

    # every command but `db` refuses it, with the one line the operator needs
    needs = f"database schema is at 2 (before migrations), this beslut needs {sch.head_revision()}"
    for args in (["status"], ["audit", "verify"], ["deadlines"], ["tick", "--now", "2022-09-21T08:00"]):
        refused = run(*args, db=store_url)
        assert 2 == refused.code, refused
        assert [f"error: {needs}: run `beslut db upgrade`"] == refused.error_lines
    assert before == raw_dump(store_url)
    assert "legacy" == run("db", "current", "--json", db=store_url).json()["status"]

    upgraded = run("db", "upgrade", "--json", db=store_url)
    assert 0 == upgraded.code, upgraded.stderr
    document = upgraded.json()
    assert document["stamped_legacy"]
    assert document["status"] == "current"
    assert document["to"] == sch.head_revision()

    # the old rows are all there, unchanged; the schema is exactly _tables.py's
    after = raw_dump(store_url)
    for table in PREV_TABLES:
        kept(before, after, table)
    with connect(store_url) as connection:
        assert [] == metadata_diff(connection)
        upgraded_shape = schema_shape(connection)
    with connect(created_database(store_url, tmp_path, request)) as fresh:
        assert schema_shape(fresh) == upgraded_shape  # same tables, keys, indexes and triggers as `beslut init` makes

    assert 0 == run("audit", "verify", db=store_url).code
    status = run("status", "--json", db=store_url)
    assert 0 == status.code, status.stderr
    contains(status.json(), json.loads(PREV_STATUS.read_text(encoding="utf-8")))

    with Engine(open_store(store_url), clock=FixedClock(LATER), actor="test") as engine:
        keys = [case.key for case in engine.cases()]
        assert 3 == len(keys)
        for key in keys:
            assert engine.case(key) == engine.replay(key)
        # new commands work on the old data: a decision, the timers, the audit chain grows and verifies
        engine.decide(IN_PROGRESS, "2380", outcome="approved", paragraph="§ 12", on=date(2022, 9, 26))
        engine.tick(datetime(2022, 10, 8, 8, 0, tzinfo=STOCKHOLM), worker="test")
        assert engine.case(IN_PROGRESS) == engine.replay(IN_PROGRESS)
        assert "decided" == next(p for p in engine.case(IN_PROGRESS).parties if p.key == "2380").state
        report = engine.verify_audit()
        assert report.ok
        assert report.events > 101
    # the append-only triggers survived the upgrade
    with connect(store_url) as connection, pytest.raises(Exception, match="append-only"):
        connection.execute(text("UPDATE audit_event SET kind = 'x' WHERE seq = 1"))


def test_upgrade_is_idempotent(store_url: str) -> None:
    restore_previous_release(store_url)
    first = run("db", "upgrade", db=store_url)
    assert 0 == first.code
    assert "stamped" in first.stdout
    once = raw_dump(store_url)
    again = run("db", "upgrade", "--json", db=store_url)
    assert 0 == again.code
    assert [] == again.json()["applied"]
    assert not again.json()["stamped_legacy"]
    assert once == raw_dump(store_url)
    assert f"is already at {sch.head_revision()}" in run("db", "upgrade", db=store_url).stdout


def test_history_and_current(store_url: str) -> None:
    restore_previous_release(store_url)
    history = run("db", "history", "--json", db=store_url).json()["revisions"]
    assert [s.revision for s in sch.chain()] == [r["revision"] for r in history]
    assert history[0]["current"]
    assert history[0]["applied"]
    assert "made before migrations" in run("db", "current", db=store_url).stdout
    run("db", "upgrade", db=store_url)
    current = run("db", "current", "--json", db=store_url).json()
    assert current["status"] == "current"
    assert current["pending"] == []
    assert all(r["applied"] for r in run("db", "history", "--json", db=store_url).json()["revisions"])


# ---------------------------------------------------------------- the next revision, behind and ahead


def test_next_revision_in_batch_mode_on_real_data_then_older_code_refuses(
    store_url: str, tmp_path: Path, connect: Any
) -> None:
    restore_previous_release(store_url)
    assert 0 == run("db", "upgrade", db=store_url).code
    location = extra_revision(tmp_path, ADD_COLUMN)
    store = open_store(store_url)
    with store.engine.connect() as connection:  # type: ignore[attr-defined]
        with pytest.raises(sch.SchemaMismatch) as behind:
            sch.require_current(connection, script_location=location)
        connection.rollback()
    assert f"database schema is at {sch.head_revision()}, this beslut needs 9001: run `beslut db upgrade`" == str(
        behind.value
    )
    before = raw_dump(store_url)
    result = sch.upgrade(store, script_location=location)
    if "://" not in store_url:  # the store's pooled connection has its foreign keys back on
        with store.engine.connect() as pooled:  # type: ignore[attr-defined]
            assert 1 == pooled.exec_driver_sql("PRAGMA foreign_keys").scalar()
            pooled.rollback()
    store.close()
    assert ["9001"] == result.applied
    assert "9001" == result.after.current
    after = raw_dump(store_url)
    for table in PREV_TABLES:  # party_decision and deadline kept their rows and keys
        kept(before, after, table)
    with connect(store_url) as connection:
        notes = connection.execute(text("SELECT key, note FROM recommendation")).all()
        assert all(note == key[:10] for key, note in notes)
        if connection.dialect.name == "sqlite":
            assert [] == connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        assert triggers(connection)

    # this beslut does not know 9001: the database is AHEAD, every command refuses, db upgrade too
    ahead = "database schema is at 9001, newer than this beslut"
    for args in (["status"], ["audit", "verify"], ["db", "upgrade"]):
        refused = run(*args, db=store_url)
        assert 2 == refused.code, refused
        assert 1 == len(refused.error_lines), refused
        assert refused.error_lines[0].startswith(f"error: {ahead}"), refused.stderr
    assert "ahead" == run("db", "current", "--json", db=store_url).json()["status"]
    assert after == raw_dump(store_url)


FAILS_HALF_WAY = """
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    with op.batch_alter_table("recommendation") as batch:
        batch.add_column(sa.Column("note", sa.String(40), nullable=False, server_default="x"))
    op.execute("INSERT INTO half_done (id) VALUES (1)")
    raise RuntimeError("revision 9001 failed half-way")
"""


def test_a_failing_revision_changes_nothing(store_url: str, tmp_path: Path, connect: Any) -> None:
    """One transaction: tables created and tables rebuilt by the failed revision are all rolled back."""
    restore_previous_release(store_url)
    before = raw_dump(store_url)
    location = extra_revision(tmp_path, FAILS_HALF_WAY)
    store = open_store(store_url)
    with pytest.raises(RuntimeError, match="failed half-way"):
        sch.upgrade(store, script_location=location)
    store.close()
    assert before == raw_dump(store_url)  # not even the legacy stamp of the same transaction is left
    with connect(store_url) as connection:
        assert PREV_TABLES == set(inspect(connection).get_table_names())
        assert "note" not in {c["name"] for c in inspect(connection).get_columns("recommendation")}
        assert triggers(connection)
    assert 0 == run("db", "upgrade", db=store_url).code  # and the real upgrade still works after it


def test_upgrade_step_by_step_with_to(store_url: str) -> None:
    """--to stops at a shipped revision: the database is then BEHIND and refused until upgraded; no downgrades."""
    ids = [step.revision for step in sch.chain()]
    assert len(ids) >= 2, "needs a revision after the baseline"
    restore_previous_release(store_url)
    partial = run("db", "upgrade", "--to", ids[-2], "--json", db=store_url)
    assert 0 == partial.code, partial.stderr
    assert ids[1:-1] == partial.json()["applied"]
    assert "behind" == partial.json()["status"]
    behind = run("status", db=store_url)
    assert 2 == behind.code
    assert [
        f"error: database schema is at {ids[-2]}, this beslut needs {ids[-1]}: run `beslut db upgrade`"
    ] == behind.error_lines
    at = raw_dump(store_url)
    back = run("db", "upgrade", "--to", sch.BASELINE, db=store_url)
    assert 2 == back.code
    assert "no downgrades" in back.stderr
    assert at == raw_dump(store_url)
    rest = run("db", "upgrade", "--json", db=store_url)
    assert [ids[-1]] == rest.json()["applied"]
    assert 0 == run("status", db=store_url).code


def test_upgrade_to_an_unknown_revision_is_refused(store_url: str) -> None:
    restore_previous_release(store_url)
    before = raw_dump(store_url)
    refused = run("db", "upgrade", "--to", "nope", db=store_url)
    assert 2 == refused.code
    assert ["error: --to nope: no such revision; see `beslut db history`"] == refused.error_lines
    assert before == raw_dump(store_url)


def test_db_commands_refuse_a_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.db")
    for args in (["db", "upgrade"], ["db", "current"]):
        refused = run(*args, db=missing)
        assert 2 == refused.code
        assert 1 == len(refused.error_lines)
    assert not Path(missing).exists()


# ---------------------------------------------------------------- concurrent upgrades


def _upgrade_process(db: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT), "db", "upgrade", "--json", "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_upgrades_of_an_empty_database(store_url: str, connect: Any) -> None:
    """Two real processes create the schema from nothing at once: one applies it, the other finds it done."""
    if "://" not in store_url:
        Path(store_url).touch()
    processes = [_upgrade_process(store_url) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [0, 0] == [p.returncode for p in processes], outputs
    applied = sorted(len(json.loads(out)["applied"]) for out, _err in outputs)
    assert [0, len(sch.chain())] == applied
    with connect(store_url) as connection:
        assert [(sch.head_revision(),)] == connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [] == metadata_diff(connection)


def test_an_upgrade_waits_for_the_migration_lock(store_url: str, connect: Any) -> None:
    """While another migrator holds the lock, `db upgrade` touches nothing; then it does the work."""
    restore_previous_release(store_url)
    holder = connect(store_url)
    if holder.dialect.name == "sqlite":
        holder.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": sch.MIGRATION_LOCK})
    process = _upgrade_process(store_url)
    try:
        if holder.dialect.name == "postgresql":
            waiting = 0
            for _ in range(600):  # until the process is queued on our advisory lock
                with connect(store_url) as probe:
                    waiting = probe.execute(
                        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                    ).scalar_one()
                if waiting or process.poll() is not None:
                    break
                time.sleep(0.1)
            assert 1 == waiting
        else:
            time.sleep(3)
        assert process.poll() is None, process.communicate()
        with connect(store_url) as probe:
            assert "alembic_version" not in inspect(probe).get_table_names()
    finally:
        holder.rollback()
        holder.close()
    out, err = process.communicate(timeout=300)
    assert 0 == process.returncode, err
    assert json.loads(out)["stamped_legacy"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
