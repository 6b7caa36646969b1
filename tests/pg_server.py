"""A real, throwaway PostgreSQL server for the test suite.

``ThrowawayPostgres().start()`` runs ``initdb`` into a fresh temporary directory and
starts the server on a free TCP port of 127.0.0.1 with durability switched off (it is
thrown away afterwards), then returns a SQLAlchemy URL for its ``postgres`` database.
``stop()`` kills it and removes the directory.

The server binaries are found through ``$BESLUT_PG_BINDIR``, then ``pg_config --bindir``,
then ``/usr/lib/postgresql/*/bin`` (Debian's layout; PostgreSQL 15 preferred). PostgreSQL
refuses to run as root, so under root the server is run as the ``postgres`` system user
(``runuser -u postgres --``).

If ``$BESLUT_TEST_PG_URL`` is set, that server is used instead: ``start()`` returns the
URL and ``stop()`` leaves the server alone. Its user must be allowed to create databases.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ENV_URL = "BESLUT_TEST_PG_URL"
ENV_BINDIR = "BESLUT_PG_BINDIR"
SUPERUSER = "beslut"
SERVER_USER_WHEN_ROOT = "postgres"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NEEDED = ("initdb", "pg_ctl", "postgres")


def psycopg_url(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://...``) into a libpq/psycopg one."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def with_database(url: str, dbname: str) -> str:
    """Return ``url`` pointing at database ``dbname`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def _has_server_binaries(bindir: str) -> bool:
    return all(os.access(os.path.join(bindir, exe), os.X_OK) for exe in _NEEDED)


def _version_key(bindir: str) -> tuple[int, int]:
    name = Path(bindir).parent.name  # /usr/lib/postgresql/<version>/bin
    try:
        version = float(name)
    except ValueError:
        return (0, 0)
    return (int(version == 15), int(version * 100))


def find_bindir() -> str:
    """Locate a directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[str] = []
    if os.environ.get(ENV_BINDIR):
        candidates.append(os.environ[ENV_BINDIR])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
            if out:
                candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: tried "
        f"{candidates or ['pg_config --bindir', '/usr/lib/postgresql/*/bin']}. "
        "Install them (Debian: apt-get install postgresql-15) or run `bash scripts/test.sh`, "
        "which does."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class ThrowawayPostgres:
    """One PostgreSQL server that lives in a temporary directory for one test session."""

    def __init__(self, bindir: str | None = None, superuser: str = SUPERUSER) -> None:
        self._bindir = bindir
        self.superuser = superuser
        self.external = bool(os.environ.get(ENV_URL))
        self.url: str | None = None
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.startup_seconds: float | None = None
        self._running = False

    # -- paths and commands ----------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "server.log"

    def _as_server_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SERVER_USER_WHEN_ROOT, "--"]

    def _run(self, exe: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self._bindir is not None
        assert self.base_dir is not None
        cmd = [*self._as_server_user(), os.path.join(self._bindir, exe), *args]
        # cwd: the server user must be able to enter it (root's cwd may be /root, mode 0700).
        return subprocess.run(
            cmd,
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> str:
        """Start the server (once) and return a SQLAlchemy URL for its ``postgres`` database."""
        if self.url is not None:
            return self.url
        if self.external:
            self.url = os.environ[ENV_URL]
            self._check_connection(self.url)
            return self.url
        began = time.monotonic()
        if self._bindir is None:
            self._bindir = find_bindir()
        self._make_dirs()
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        assert self.url is not None
        return self.url

    def _make_dirs(self) -> None:
        root = os.geteuid() == 0
        # Under root the server user must be able to reach the directory: stay out of
        # $TMPDIR (which may be under /root) and make the directory world-traversable.
        parent = "/tmp" if root or not os.environ.get("TMPDIR") else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="beslut-pg-", dir=parent))
        self.base_dir.chmod(0o755)
        self.socket_dir.mkdir(mode=0o700)
        self.data_dir.mkdir(mode=0o700)
        if root:
            try:
                shutil.chown(self.base_dir, SERVER_USER_WHEN_ROOT, SERVER_USER_WHEN_ROOT)
            except LookupError as exc:
                raise RuntimeError(
                    f"running as root, but there is no {SERVER_USER_WHEN_ROOT!r} system user "
                    "to run PostgreSQL as (PostgreSQL refuses to run as root); "
                    "apt-get install postgresql-15 creates it"
                ) from exc
            for path in (self.socket_dir, self.data_dir):
                shutil.chown(path, SERVER_USER_WHEN_ROOT, SERVER_USER_WHEN_ROOT)

    def _initdb(self) -> None:
        common = [
            "-D", str(self.data_dir),
            "-A", "trust",
            "-U", self.superuser,
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        result = self._run("initdb", *common, "--locale=C.UTF-8")
        if result.returncode != 0:
            # No C.UTF-8 locale on this system: fall back to the plain C locale.
            for child in self.data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            result = self._run("initdb", *common, "--no-locale")
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}".rstrip())

    def _start_server(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            port = _free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {port}",
                    f"-k {self.socket_dir}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                    "-c timezone=UTC",
                ]
            )
            result = self._run(
                "pg_ctl",
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-w", "-t", "60",
                "-o", options,
                "start",
                timeout=90,
            )  # fmt: skip
            if result.returncode == 0:
                self._running = True
                self.port = port
                url = f"postgresql+psycopg://{self.superuser}@127.0.0.1:{port}/postgres"
                self._check_connection(url)
                self.url = url
                return
            log = _tail(self.log_file)
            if attempt < attempts and "already in use" in log:
                continue  # lost a race for the port: try another one
            raise RuntimeError(
                f"PostgreSQL did not start (pg_ctl exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- tail of {self.log_file} ---\n{log}"
            )

    def _check_connection(self, url: str) -> None:
        try:
            with psycopg.connect(psycopg_url(url), autocommit=True, connect_timeout=10) as conn:
                conn.execute("select 1")
        except psycopg.Error as exc:
            where = f"\n--- tail of {self.log_file} ---\n{_tail(self.log_file)}" if self.base_dir else ""
            raise RuntimeError(f"cannot connect to PostgreSQL at {url}: {exc}{where}") from exc

    def stop(self) -> None:
        """Stop the server immediately and remove its directory (no-op for an external one)."""
        if self.external:
            self.url = None
            return
        if self._running:
            self._running = False
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", timeout=60)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        self.url = None
        atexit.unregister(self.stop)

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        if self.url is None:
            raise RuntimeError("the PostgreSQL server is not started")
        return psycopg.connect(psycopg_url(self.url), autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"bad database name {name!r}: use [a-z_][a-z0-9_]*, at most 63 characters")
        with self._admin() as conn:
            # FILE_COPY: about 130 ms instead of 330 ms per test database here (WAL_LOG is the PG 15 default).
            conn.execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(sql.Identifier(name)))
        assert self.url is not None
        return with_database(self.url, name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (if it exists), disconnecting whoever is still in it."""
        if not _DB_NAME.match(name):
            raise ValueError(f"bad database name {name!r}")
        with self._admin() as conn:
            for attempt in range(10):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                try:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                except psycopg.errors.ObjectInUse:
                    if attempt == 9:
                        raise
                    time.sleep(0.1)  # a terminated backend has not quite exited yet
                else:
                    return
