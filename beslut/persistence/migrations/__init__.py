"""The Alembic migrations of the `beslut` schema, shipped inside the package.

``env.py`` and ``versions/`` are read by Alembic through
:mod:`beslut.persistence.schema`, which configures Alembic in code (no ``alembic.ini``
is needed by anyone). ``python -m beslut.persistence.migrations`` is the developer's
entry for writing the next revision; docs/migrations.md says how.
"""
