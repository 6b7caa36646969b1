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

import ast
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from beslut.errors import Refusal, StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from beslut.workflow.ports import Store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
LEGACY_SCHEMA_VERSION = "2"
MIGRATION_LOCK = 0x6265736C7575  # PostgreSQL advisory lock key for upgrades (the audit append lock is ...74)
_UPGRADE_HINT = "run `beslut db upgrade`"
_REVISION_NAMES = ("revision", "down_revision")
_STATE_TABLES = ("alembic_version", "audit_event", "beslut_meta")  # fixed names, never user input


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
    """Alembic's view of the revisions (for running them; cached)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    return ScriptDirectory.from_config(alembic_config(script_location=script_location))


@dataclass(frozen=True)
class _Step:
    revision: str
    down_revision: str | None
    description: str


@functools.lru_cache(maxsize=4)
def chain(script_location: Path | None = None) -> tuple[_Step, ...]:
    """The revisions, oldest first, read from the files with :mod:`ast` (no Alembic import).

    Every command checks the schema when it opens a database, and importing Alembic
    costs more than the command itself; reading ``revision``/``down_revision`` from
    the few version files does not. The chain must be linear (one head, no merges):
    two revisions on one parent are a developer's mistake, refused here and by a test.
    tests/persistence/test_migrations.py checks this reading agrees with Alembic's.
    """
    steps: dict[str, _Step] = {}
    for path in sorted(((script_location or MIGRATIONS) / "versions").glob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        values: dict[str, object] = {}
        for node in module.body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if isinstance(node, ast.Assign) and isinstance(target, ast.Name) and target.id in _REVISION_NAMES:
                values[target.id] = ast.literal_eval(node.value)
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            raise StoreError(f"migration {path.name}: revision and down_revision must be strings (no merges)")
        doc = (ast.get_docstring(module) or "").strip()
        steps[revision] = _Step(revision, down, doc.splitlines()[0] if doc else "")
    children: dict[str | None, list[str]] = {}
    for step in steps.values():
        children.setdefault(step.down_revision, []).append(step.revision)
    ordered: list[_Step] = []
    parent: str | None = None
    while parent in children:
        following = children.pop(parent)
        if len(following) != 1:
            raise StoreError(f"the migrations branch after {parent or 'base'} ({', '.join(following)}): merge them")
        parent = following[0]
        ordered.append(steps[parent])
    if len(ordered) != len(steps) or not ordered:
        raise StoreError("the migrations do not form one chain from the baseline")
    return tuple(ordered)


def head_revision(script_location: Path | None = None) -> str:
    """The newest revision: what this beslut needs."""
    return chain(script_location)[-1].revision


def _ids(script_location: Path | None) -> list[str]:
    return [step.revision for step in chain(script_location)]


# ---------------------------------------------------------------- reading the state


def schema_state(connection: Connection, *, script_location: Path | None = None) -> SchemaState:
    """Where the database behind *connection* stands; reads only."""
    ids = _ids(script_location)
    head = ids[-1]
    tables = _present_tables(connection)
    versions: list[str] = []
    if "alembic_version" in tables:  # (an empty one is what a downgrade to base leaves)
        versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    if not versions:
        if "audit_event" not in tables:
            return SchemaState(current=None, head=head, empty=True, pending=ids)
        legacy = _legacy_version(connection) if "beslut_meta" in tables else None
        if legacy != LEGACY_SCHEMA_VERSION:
            raise StoreError(f"database has beslut tables but no migration record (schema_version {legacy!r})")
        return SchemaState(current=BASELINE, head=head, legacy=True, pending=ids[ids.index(BASELINE) + 1 :])
    if len(versions) != 1:
        raise StoreError(f"database records {len(versions)} schema revisions ({', '.join(versions)}); expected one")
    current = versions[0]
    known = current in ids
    pending = ids[ids.index(current) + 1 :] if known else []
    return SchemaState(current=current, head=head, known=known, pending=pending)


def require_current(connection: Connection, *, script_location: Path | None = None) -> None:
    """Refuse (exit 2) unless the database is exactly at this beslut's head.

    The one check every command but ``init`` and ``db …`` makes when it opens a
    database: a schema behind the code would fail half-way through a command, and a
    schema ahead of it may hold columns this code would silently ignore or break.
    An uninitialised database passes: the command's own "run `beslut init`" applies.
    """
    state = schema_state(connection, script_location=script_location)
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
    state = schema_state(connection) if connection is not None else None
    ids = _ids(None)
    applied: set[str] = set()
    if state is not None and state.current is not None and state.known:
        applied = set(ids[: ids.index(state.current) + 1])
    return [
        Revision(
            revision=step.revision,
            down_revision=step.down_revision,
            description=step.description,
            applied=step.revision in applied,
            current=state is not None and not state.empty and step.revision == state.current,
        )
        for step in chain(None)
    ]


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
        behind_current = _upto(before.current, script_location) - {before.current} if before.current else set()
        if target in behind_current:
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


def _present_tables(connection: Connection) -> set[str]:
    """Which of the tables that tell a schema's state exist, in one catalog query.

    The reflection inspector's ``get_table_names`` costs several queries on PostgreSQL,
    and this runs every time a command opens a database.
    """
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({names})"
    else:  # visible through search_path, as the unqualified names beslut uses are resolved
        query = (
            "SELECT relname FROM pg_class"
            " WHERE relname IN ({names}) AND relkind IN ('r', 'p') AND pg_table_is_visible(oid)"
        )
    names = ", ".join(f"'{name}'" for name in _STATE_TABLES)
    return {row[0] for row in connection.execute(text(query.format(names=names)))}


def _legacy_version(connection: Connection) -> str | None:
    row = connection.execute(text("SELECT value FROM beslut_meta WHERE key = 'schema_version'")).first()
    return None if row is None else str(row[0])


def _resolve(to: str, script_location: Path | None) -> str:
    ids = _ids(script_location)
    if to == "head":
        return ids[-1]
    if to not in ids:
        raise SchemaMismatch(f"--to {to}: no such revision; see `beslut db history`")
    return to


def _upto(revision: str, script_location: Path | None) -> set[str]:
    """*revision* and every revision before it."""
    ids = _ids(script_location)
    return set(ids[: ids.index(revision) + 1])
