"""For developers: write the next revision file (``python -m beslut.persistence.migrations "add x"``).

Makes a throwaway SQLite database at the current head by running every migration,
lets Alembic's autogenerate compare it with ``_tables.py``, and writes
``versions/v<NNNN>_<slug>.py`` with the next number, in batch mode. Read and edit what
it writes before committing (docs/migrations.md lists what autogenerate cannot see:
triggers, data moves, PostgreSQL-only SQL, and the beslut column types it should freeze).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from beslut.persistence import open_store
from beslut.persistence import schema as sch


def main(argv: list[str]) -> int:
    """Write the next revision; print its path."""
    if len(argv) != 1 or not argv[0].strip():
        print('usage: python -m beslut.persistence.migrations "what the revision does"', file=sys.stderr)
        return 2
    next_id = f"{int(sch.head_revision()) + 1:04d}"
    with tempfile.TemporaryDirectory(prefix="beslut-revision-") as folder:
        path = Path(folder) / "head.db"
        path.touch()
        store = open_store(path)
        try:
            sch.upgrade(store)
            with store.engine.connect() as connection, connection.begin():  # type: ignore[attr-defined]
                config = sch.alembic_config(connection)
                config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
                script = command.revision(config, message=argv[0], autogenerate=True, rev_id=next_id)
        finally:
            store.close()
    written = script[0] if isinstance(script, list) else script
    print(written.path if written is not None else "no revision written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
