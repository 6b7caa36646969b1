"""Alembic's environment: run the migrations on the connection beslut hands over.

:func:`beslut.persistence.schema.upgrade` opens the connection, starts THE transaction
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) and passes the
connection in ``config.attributes["connection"]``; Alembic sees a transaction already
begun and runs every revision inside it without committing, so an upgrade is all or
nothing. ``render_as_batch`` on SQLite makes autogenerate write "move and copy" batch
operations, the only way SQLite can alter most things about a table.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine
from sqlmodel.sql.sqltypes import AutoString

from beslut.persistence._tables import METADATA
from beslut.persistence._types import AwareDateTime

# Alembic keeps its own version table; never compare it against the metadata.
_IGNORED_TABLES = frozenset({"alembic_version"})


def _include_object(_obj: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    return not (type_ == "table" and name in _IGNORED_TABLES)


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write beslut's column types so a generated revision imports and runs as it is.

    sqlmodel's AutoString is a plain VARCHAR: written as ``sa.String``. AwareDateTime
    (ISO text on SQLite, timestamptz on PostgreSQL) is imported from beslut itself.
    """
    if type_ != "type":
        return False
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if isinstance(obj, AwareDateTime):
        autogen_context.imports.add("from beslut.persistence._types import AwareDateTime")
        return "AwareDateTime()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        render_item=_render_item,
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
