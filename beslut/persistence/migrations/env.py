"""Alembic's environment: run the migrations on the connection beslut hands over.

:func:`beslut.persistence.schema.upgrade` opens the connection, starts THE transaction
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) and passes the
connection in ``config.attributes["connection"]``; Alembic sees a transaction already
begun and runs every revision inside it without committing, so an upgrade is all or
nothing. ``render_as_batch`` on SQLite makes autogenerate write "move and copy" batch
operations, the only way SQLite can alter most things about a table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from beslut.persistence._tables import METADATA

# Alembic keeps its own version table; never compare it against the metadata.
_IGNORED_TABLES = frozenset({"alembic_version"})


def _include_object(_obj: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    return not (type_ == "table" and name in _IGNORED_TABLES)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if context.is_offline_mode():  # `--sql`: print the DDL for a DBA to review
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=METADATA,
            literal_binds=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()
    elif connection is not None:
        _run(connection)
    else:  # a developer's own `alembic` run with sqlalchemy.url set
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own:
            _run(own)
        engine.dispose()


_main()
