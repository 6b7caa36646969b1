"""Where a database's schema stands, and moving it forward with Alembic.

The truth is Alembic's ``alembic_version`` table. A database made before Alembic
(``beslut_meta.schema_version`` = "2" and no ``alembic_version``) is "legacy": its
schema IS the baseline revision, so :func:`upgrade` stamps it there and goes on.

Rules the rest of beslut relies on:

* a new database is made at head by ``Store.create_schema()`` (``create_all`` plus the
  triggers, then :func:`stamp_head`) — Alembic's own advice for fresh databases, fast
  however many revisions pile up; tests/persistence/test_migrations.py proves a database
  migrated from nothing is the same;
* every command except ``init`` and ``db …`` calls :func:`require_current` and refuses a
  database that is behind or ahead (exit 2) — migrations never run implicitly;
* :func:`upgrade` runs in ONE transaction: PostgreSQL has transactional DDL; SQLite's DDL
  is transactional too once the driver's own transaction handling is off (the adapter
  does that), so a failed revision leaves the file exactly as it was. Concurrent upgrades
  queue on a PostgreSQL advisory lock, or on SQLite's ``BEGIN IMMEDIATE`` write lock.

Alembic is configured in code here; nobody needs an ``alembic.ini``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text

from beslut.errors import Refusal, StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from beslut.persistence.abc import Store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
LEGACY_SCHEMA_VERSION = "2"
MIGRATION_LOCK = 0x6265736C7575  # PostgreSQL advisory lock key for upgrades (the audit append lock is ...74)
_UPGRADE_HINT = "run `beslut db upgrade`"


class SchemaMismatch(Refusal):
    """The database's schema is not the one this beslut was built for (exit 2)."""


@dataclass(frozen=True)
class SchemaState:
    """Where one database stands against the migrations this beslut ships."""

    current: str | None  # the Alembic revision; LEGACY_SCHEMA_VERSION's baseline for a legacy database
    head: str
    legacy: bool = False  # made before Alembic: no alembic_version, schema_version "2"
    empty: bool = False  # no beslut tables at all
    known: bool = True  # current is one of this beslut's revisions
    pending: list[str] = field(default_factory=list)  # revisions an upgrade would apply, oldest first

    @property
    def status(self) -> str:
        """``current``, ``behind``, ``ahead``, ``legacy`` or ``empty``."""
        if self.empty:
            return "empty"
        if self.legacy:
            return "legacy"
        if not self.known:
            return "ahead"
        return "current" if self.current == self.head else "behind"

    @property
    def shown(self) -> str:
        """The current revision as a person reads it."""
        if self.empty:
            return "empty"
        if self.legacy:
            return f"{LEGACY_SCHEMA_VERSION} (before migrations)"
        return self.current or "none"

    def as_json(self) -> dict[str, Any]:
        """The document `beslut db current --json` prints."""
        return {
            "current": None if self.legacy or self.empty else self.current,
            "head": self.head,
            "status": self.status,
            "legacy_schema_version": LEGACY_SCHEMA_VERSION if self.legacy else None,
            "pending": self.pending,
        }


@dataclass(frozen=True)
class Revision:
    """One migration, for `beslut db history`."""

    revision: str
    down_revision: str | None
    description: str
    applied: bool
    current: bool


# ---------------------------------------------------------------- Alembic in code


def alembic_config(connection: Connection | None = None, *, script_location: Path | None = None) -> Config:
    """An Alembic Config pointing at the shipped migrations; *connection* is what env.py runs on."""
    from alembic.config import Config  # noqa: PLC0415 - Alembic is loaded only where schemas are handled

    config = Config()
    config.set_main_option("script_location", str(script_location or MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.lru_cache(maxsize=4)
def script_directory(script_location: Path | None = None) -> ScriptDirectory:
    """The parsed revisions (cached: they do not change while beslut runs)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    return ScriptDirectory.from_config(alembic_config(script_location=script_location))


def head_revision(script_location: Path | None = None) -> str:
    """The one head. More than one is a developer's mistake (two revisions on one parent)."""
    heads = script_directory(script_location).get_heads()
    if len(heads) != 1:
        raise StoreError(f"the migrations have {len(heads)} heads ({', '.join(heads)}): merge them")
    return heads[0]


# ---------------------------------------------------------------- reading the state


def schema_state(connection: Connection, *, script_location: Path | None = None) -> SchemaState:
    """Where the database behind *connection* stands; reads only."""
    script = script_directory(script_location)
    head = head_revision(script_location)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables:
        if "audit_event" not in tables:
            return SchemaState(current=None, head=head, empty=True, pending=_between(script, None, head))
        legacy = _legacy_version(connection) if "beslut_meta" in tables else None
        if legacy != LEGACY_SCHEMA_VERSION:
            raise StoreError(f"database has beslut tables but no migration record (schema_version {legacy!r})")
        return SchemaState(current=BASELINE, head=head, legacy=True, pending=_between(script, BASELINE, head))
    versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    if len(versions) != 1:
        raise StoreError(f"database records {len(versions)} schema revisions ({', '.join(versions)}); expected one")
    current = versions[0]
    known = _known(script, current)
    pending = _between(script, current, head) if known else []
    return SchemaState(current=current, head=head, known=known, pending=pending)


def require_current(connection: Connection) -> None:
    """Refuse (exit 2) unless the database is exactly at this beslut's head.

    The one check every command but ``init`` and ``db …`` makes when it opens a
    database: a schema behind the code would fail half-way through a command, and a
    schema ahead of it may hold columns this code would silently ignore or break.
    An uninitialised database passes: the command's own "run `beslut init`" applies.
    """
    state = schema_state(connection)
    if state.status in ("current", "empty"):
        return
    if state.status == "ahead":
        raise SchemaMismatch(
            f"database schema is at {state.shown}, newer than this beslut ({state.head}): upgrade beslut"
        )
    raise SchemaMismatch(f"database schema is at {state.shown}, this beslut needs {state.head}: {_UPGRADE_HINT}")


def require_current_store(store: Store) -> None:
    """:func:`require_current` on a store (one short read transaction)."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return
    with engine.connect() as connection:
        try:
            require_current(connection)
        finally:
            connection.rollback()


def history(connection: Connection | None) -> list[Revision]:
    """Every revision, oldest first, marked applied/current against the database (if given)."""
    script = script_directory()
    state = schema_state(connection) if connection is not None else None
    applied: set[str] = set()
    if state is not None and state.current is not None and state.known:
        applied = {rev.revision for rev in script.iterate_revisions(state.current, "base")}
    out = [
        Revision(
            revision=rev.revision,
            down_revision=_down(rev.down_revision),
            description=(rev.doc or "").strip().splitlines()[0] if rev.doc else "",
            applied=rev.revision in applied,
            current=state is not None and not state.empty and rev.revision == state.current,
        )
        for rev in script.walk_revisions("base", "heads")
    ]
    return list(reversed(out))


# ---------------------------------------------------------------- changing it


def stamp_head(connection: Connection) -> None:
    """Record that the database is at head (its tables were just made from the current metadata)."""
    from alembic.migration import MigrationContext  # noqa: PLC0415

    context = MigrationContext.configure(connection)
    context.stamp(script_directory(), head_revision())


@dataclass(frozen=True)
class UpgradeResult:
    """What `beslut db upgrade` did."""

    before: SchemaState
    after: SchemaState
    applied: list[str]

    def as_json(self) -> dict[str, Any]:
        """The document `beslut db upgrade --json` prints."""
        return {
            "from": self.before.as_json()["current"],
            "from_status": self.before.status,
            "to": self.after.current,
            "applied": self.applied,
            "stamped_legacy": self.before.legacy,
            "status": self.after.status,
        }


def upgrade(store: Store, *, to: str = "head", script_location: Path | None = None) -> UpgradeResult:
    """Upgrade the database to *to* in one transaction; a no-op when it is there already.

    A legacy database is stamped at the baseline first, in the same transaction.
    A database ahead of this beslut, or a target it does not know, is refused and
    nothing is changed. On any failure the transaction is rolled back: the database
    stays at the revision it had.
    """
    from alembic import command  # noqa: PLC0415

    engine = getattr(store, "engine", None)
    if engine is None:
        raise StoreError("this store has no SQL schema to upgrade")
    with _migration_transaction(store) as connection:
        before = schema_state(connection, script_location=script_location)
        if before.status == "ahead":
            raise SchemaMismatch(
                f"database schema is at {before.shown}, newer than this beslut ({before.head}): upgrade beslut"
            )
        target = _resolve(to, script_location)
        if before.current is not None and not before.empty and target not in _upto(before.current, script_location):
            raise SchemaMismatch(f"--to {to}: the database is already past it (at {before.current}); no downgrades")
        config = alembic_config(connection, script_location=script_location)
        if before.legacy:
            command.stamp(config, BASELINE)
        command.upgrade(config, target)
        _check_foreign_keys(connection)
        after = schema_state(connection, script_location=script_location)
        applied = [rev for rev in before.pending if rev in _upto(target, script_location)]
    return UpgradeResult(before=before, after=after, applied=applied)


@contextmanager
def _migration_transaction(store: Store) -> Iterator[Connection]:
    """One write transaction that only one migrator holds at a time; committed if the block succeeds.

    SQLite: foreign keys are switched off for the connection BEFORE the transaction
    (the pragma is a no-op inside one) because batch operations drop and re-create
    tables that others reference; they are checked with ``foreign_key_check`` before
    commit and switched back on. PostgreSQL: a transaction-scoped advisory lock, so a
    second ``db upgrade`` waits and then finds nothing left to do.
    """
    engine = store.engine  # type: ignore[attr-defined]
    translated = store._translated  # type: ignore[attr-defined]
    with translated(), engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _driver_pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            store.begin_write(connection)  # type: ignore[attr-defined]
            if not sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            if sqlite:
                _driver_pragma(connection, "PRAGMA foreign_keys=ON")


def _driver_pragma(connection: Connection, statement: str) -> None:
    """Run a pragma on the DBAPI connection outside any transaction (SQLAlchemy would BEGIN first)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL checked every constraint as the DDL ran
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise StoreError(f"the migration broke {len(broken)} foreign keys (first: {tuple(broken[0])}); rolled back")


def _legacy_version(connection: Connection) -> str | None:
    row = connection.execute(text("SELECT value FROM beslut_meta WHERE key = 'schema_version'")).first()
    return None if row is None else str(row[0])


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.script.revision import RevisionError  # noqa: PLC0415
    from alembic.util import CommandError  # noqa: PLC0415

    try:
        return script.get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def _resolve(to: str, script_location: Path | None) -> str:
    script = script_directory(script_location)
    if to == "head":
        return head_revision(script_location)
    if not _known(script, to):
        raise SchemaMismatch(f"--to {to}: no such revision; see `beslut db history`")
    revision = script.get_revision(to)
    assert revision is not None
    return revision.revision


def _upto(revision: str, script_location: Path | None) -> set[str]:
    """*revision* and every revision before it."""
    script = script_directory(script_location)
    return {rev.revision for rev in script.iterate_revisions(revision, "base")}


def _between(script: ScriptDirectory, current: str | None, head: str) -> list[str]:
    """Revisions after *current* up to *head*, oldest first."""
    lower = current or "base"
    revisions = [rev.revision for rev in script.iterate_revisions(head, lower)]
    return [rev for rev in reversed(revisions) if rev != current]


def _down(down: str | list[str] | tuple[str, ...] | None) -> str | None:
    if down is None or isinstance(down, str):
        return down
    return ",".join(down)
