"""`beslut token create|list|revoke`, on both stores: the token is printed alone, once, and only its hash is kept."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.cli.helpers import dump, ok, refused, run_script


def _rows(db: str) -> list[tuple[object, ...]]:
    url = db if "://" in db else f"sqlite:///{db}"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text("SELECT * FROM api_token ORDER BY created_at, id"))]
    finally:
        engine.dispose()


class TestCreate:
    def test_prints_the_token_alone_and_stores_only_its_hash(self, cli_db: str) -> None:
        """stdout is one line, the 43-character URL-safe token; the row holds its SHA-256 and not the token."""
        result = ok("token", "create", "--role", "clerk", "--party", "2380", "--label", "Registrator", db=cli_db)
        assert "" == result.stderr
        token = result.stdout.strip()
        assert result.stdout == token + "\n"
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token  # 32 random bytes, base64url
        rows = _rows(cli_db)
        assert 1 == len(rows)
        assert hashlib.sha256(token.encode()).hexdigest() in rows[0]
        assert all(token not in str(value) for value in rows[0])
        assert all(token not in str(table) for table in dump(cli_db))

    def test_two_tokens_differ(self, cli_db: str) -> None:
        """Each token is fresh randomness."""
        first = ok("token", "create", "--role", "auditor", db=cli_db).stdout
        second = ok("token", "create", "--role", "auditor", db=cli_db).stdout
        assert first != second

    def test_the_real_script_prints_only_the_token(self, cli_db: str, tmp_path: Path) -> None:
        """As an operator runs it: exit 0, one line on stdout, nothing on stderr."""
        result = run_script("token", "create", "--role", "admin", db=cli_db, cwd=tmp_path)
        assert (0, "") == (result.code, result.stderr)
        assert 1 == len(result.stdout.splitlines())


class TestCreateRefusals:
    def test_unknown_party(self, cli_db: str) -> None:
        """A party no recommendation names."""
        result = refused("token", "create", "--role", "clerk", "--party", "9999", db=cli_db)
        assert "error: no party '9999' in any recommendation: propose one that names it first" == result.stderr.strip()

    def test_clerk_without_party(self, cli_db: str) -> None:
        """A clerk needs its party."""
        refused("token", "create", "--role", "clerk", db=cli_db)

    def test_party_on_another_role(self, cli_db: str) -> None:
        """Only a clerk has a party."""
        refused("token", "create", "--role", "coordinator", "--party", "2380", db=cli_db)

    def test_unknown_role(self, cli_db: str) -> None:
        """The four roles only."""
        result = refused("token", "create", "--role", "root", db=cli_db)
        assert "--role must be one of clerk, coordinator, auditor, admin" in result.stderr

    def test_missing_database(self, tmp_path: Path) -> None:
        """No database file: refused, and none is created."""
        db = tmp_path / "none.db"
        result = run_script("token", "create", "--role", "admin", db=str(db), cwd=tmp_path)
        assert 2 == result.code
        assert not db.exists()


class TestListAndRevoke:
    def test_list_never_shows_tokens_and_revoke_marks_it(self, cli_db: str) -> None:
        """list --json has ids, roles and parties; revoke sets revoked_at; a second revoke and an unknown id are refused."""
        token = ok("token", "create", "--role", "clerk", "--party", "2309", db=cli_db).stdout.strip()
        listed = ok("token", "list", "--json", db=cli_db)
        assert token not in listed.stdout
        (row,) = listed.json()
        assert ("clerk", "2309", None, f"token:{row['id']}") == (
            row["role"],
            row["party"],
            row["revoked_at"],
            row["actor"],
        )
        assert "token_sha256" not in row
        assert f"token {row['id']} revoked\n" == ok("token", "revoke", row["id"], db=cli_db).stdout
        assert ok("token", "list", "--json", db=cli_db).json()[0]["revoked_at"] is not None
        refused("token", "revoke", row["id"], db=cli_db)
        refused("token", "revoke", "nope", db=cli_db)
        assert row["id"] in ok("token", "list", db=cli_db).stdout
