"""`beslut serve` as a real process for the security tests: started on a free port, stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from beslut.api import tokens as token_service
from beslut.persistence import open_store
from tests.api.test_serve import _free_port, _wait_until_up
from tests.cli.helpers import SCRIPT

ROLES = {
    "admin": ("admin", None),
    "coordinator": ("coordinator", None),
    "auditor": ("auditor", None),
    "clerk_2380": ("clerk", "2380"),
    "clerk_2309": ("clerk", "2309"),
}


@dataclass
class Served:
    """A `beslut serve` process: where it listens, its database and a token per role (ROLES)."""

    host: str
    port: int
    db: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """The server's URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def token(self) -> str:
        """The admin's token."""
        return self.tokens["admin"]

    def auth(self, who: str) -> dict[str, str]:
        """The bearer header of *who*."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@contextmanager
def serve(db: str, cwd: Path, *options: str) -> Iterator[Served]:
    """Issue a token per role, start `beslut serve --db DB OPTIONS`, yield it, stop it."""
    tokens = {}
    store = open_store(db)
    try:  # in-process: five `beslut token create` processes would take longer than the server's start
        for who, (role, party) in ROLES.items():
            tokens[who] = token_service.issue(store, role=role, party=party, label=who, now=datetime.now(UTC))[1]
    finally:
        store.close()
    port = _free_port()
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--db", db, "--port", str(port), *options],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", process)
        yield Served("127.0.0.1", port, db, tokens)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
