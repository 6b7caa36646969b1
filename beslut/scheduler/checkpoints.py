"""The daemon's checkpoint job: sign the audit log's head on a schedule into files kept outside the database.

Configured by ``[scheduler.checkpoint]`` (:func:`checkpoint_settings`). Each run:

1. finds the newest checkpoint in ``out`` that this key signed (files are named
   ``checkpoint-<seq, 12 digits>.json``, so they sort by seq; a file that does not load
   or is not signed by this key is logged and passed over);
2. checks the log and signs the next checkpoint: from that checkpoint onward
   (:func:`beslut.audit.extend.extend`, cheap) or, at the daemon's first run, every
   ``full_verify_hours``, without a previous checkpoint, or when many streams moved,
   the whole log (:func:`beslut.audit.extend.full`);
3. writes it atomically (temporary file, fsync, ``link(2)`` to the final name, fsync of
   the directory): a reader never sees half a file, and ``link`` never replaces an
   existing file, so with several daemons writing to one directory exactly one of them
   writes a given seq's file; the others log ``checkpoint_exists`` and drop theirs.

Nothing is signed when the head has not moved (``checkpoint_unchanged``) or when the
log does not verify (``checkpoint_refused``, logged at error level with the first bad
seq). Any other failure (an unwritable directory, a database that is down) is logged as
``checkpoint_failed``; the daemon keeps running and the next run tries again.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beslut.audit import checkpoint as cp
from beslut.audit import keys
from beslut.audit.extend import Broken, Extension, Stopped, extend, full
from beslut.clock import STOCKHOLM, Clock
from beslut.errors import AuditVerificationFailed, InvalidInput
from beslut.persistence import Store
from beslut.scheduler.notifiers.config import ConfigError

log = structlog.get_logger("beslut.scheduler")

FILE_NAME: Final = re.compile(r"checkpoint-(\d{12})\.json\Z")
TEMPORARY: Final = re.compile(r"\.checkpoint-.*\.tmp\Z")
STALE_SECONDS: Final = 3600.0  # a temporary file this old was left by a daemon that died while writing
_KEYS: Final = ("cron", "every", "key", "out", "full_verify_hours")
_FIELD: Final = "scheduler.checkpoint"


def file_name(tree_size: int) -> str:
    """The file a checkpoint of seq 1..*tree_size* is written to (zero-padded: names sort by seq)."""
    return f"checkpoint-{tree_size:012d}.json"


@dataclass(frozen=True, kw_only=True)
class CheckpointSettings:
    """When to sign (a crontab or an interval), with which key, into which directory."""

    key: Path
    out: Path
    cron: str | None = None
    every_seconds: float | None = None
    full_verify_hours: float = 24.0

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger of the job (Europe/Stockholm)."""
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=STOCKHOLM)
        return IntervalTrigger(seconds=self.every_seconds or 3600.0, timezone=STOCKHOLM)


def checkpoint_settings(table: Any) -> CheckpointSettings:
    """Read and check the ``[scheduler.checkpoint]`` table; each refusal names its field in one line.

    The key is loaded here (not at the first run), so a missing, unreadable, world-readable
    or wrong key stops the daemon from starting instead of failing every few minutes.

    Raises:
        ConfigError: a bad value.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(_FIELD, "must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{_FIELD}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    cron, every = table.get("cron"), table.get("every")
    if (cron is None) == (every is None):
        raise ConfigError(_FIELD, 'give exactly one of cron (a crontab like "*/15 * * * *") or every (seconds)')
    if cron is not None:
        if not isinstance(cron, str) or not cron.strip():
            raise ConfigError(f"{_FIELD}.cron", 'must be a crontab string like "*/15 * * * *"')
        try:
            CronTrigger.from_crontab(cron, timezone=STOCKHOLM)
        except ValueError as error:
            raise ConfigError(f"{_FIELD}.cron", f"is not a crontab expression: {error}") from None
    if every is not None and (
        isinstance(every, bool) or not isinstance(every, int | float) or not 1 <= every <= 604800
    ):
        raise ConfigError(f"{_FIELD}.every", "must be a number of seconds between 1 and 604800")
    hours = table.get("full_verify_hours", 24)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours <= 8760:
        raise ConfigError(f"{_FIELD}.full_verify_hours", "must be a number of hours between 0 and 8760")
    key = _path(table, "key")
    if not key.is_file():
        raise ConfigError(f"{_FIELD}.key", f"{key} is not a file: make a key pair with `beslut audit keygen`")
    try:
        keys.load_private(key)
    except InvalidInput as error:
        raise ConfigError(f"{_FIELD}.key", str(error)) from None
    out = _path(table, "out")
    if not out.is_dir():
        raise ConfigError(f"{_FIELD}.out", f"{out} is not a directory (create it first)")
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"{_FIELD}.out", f"{out} is not writable by this user")
    return CheckpointSettings(
        key=key,
        out=out,
        cron=cron,
        every_seconds=float(every) if every is not None else None,
        full_verify_hours=float(hours),
    )


def _path(table: Mapping[str, Any], name: str) -> Path:
    value = table.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{_FIELD}.{name}", "must be a path (a string)")
    return Path(value).expanduser().absolute()


@dataclass(frozen=True)
class Found:
    """The newest checkpoint in the directory that this key signed, and its file."""

    checkpoint: cp.Checkpoint
    path: Path


class CheckpointJob:
    """One daemon's checkpoint job; :meth:`run` is called by the scheduler (never two at once)."""

    def __init__(self, store: Store, settings: CheckpointSettings, *, clock: Clock, daemon_id: str) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.daemon_id = daemon_id
        self.private_key: Ed25519PrivateKey = keys.load_private(settings.key)
        self.public_key = self.private_key.public_key()
        self._last_full: float | None = None  # time.monotonic() of this process's last full verification
        self._previous: Found | None = None  # the checkpoint the current run started from

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Path | None:
        """Check and sign once; return the file written (None: nothing to sign, refused, or failed).

        Never raises: every outcome is logged, and the daemon's next run tries again.
        """
        started = time.monotonic()
        self._previous = None
        try:
            return self._run(should_stop, started)
        except Stopped:
            log.info("checkpoint_interrupted", daemon_id=self.daemon_id)
        except Broken as error:
            last = self._previous
            log.error(  # noqa: TRY400 - a refusal is expected and explained; a traceback would hide it
                "checkpoint_refused",
                daemon_id=self.daemon_id,
                first_bad_seq=error.seq,
                problem=error.problem,
                last_good=str(last.path) if last is not None else None,
                message=str(error),
            )
        except Exception as error:  # an unwritable directory, a database that is down: the next run retries
            log.exception("checkpoint_failed", daemon_id=self.daemon_id, error=f"{type(error).__name__}: {error}")
        return None

    def _run(self, should_stop: Callable[[], bool], started: float) -> Path | None:
        previous = self._previous = self.newest()
        now = self.clock.now()
        source = str(previous.path) if previous is not None else ""
        anchor = previous.checkpoint if previous is not None else None
        result: Extension | None = None
        if anchor is not None and not self._full_due():
            result = extend(self.store, self.private_key, anchor, now=now, source=source, should_stop=should_stop)
        if result is None:
            result = full(self.store, self.private_key, anchor, now=now, source=source, should_stop=should_stop)
            self._last_full = time.monotonic()
        if result.checkpoint is None:
            log.info(
                "checkpoint_unchanged",
                daemon_id=self.daemon_id,
                tree_size=anchor.tree_size if anchor is not None else 0,
                file=source,
            )
            return None
        return self._write(result, started)

    def _full_due(self) -> bool:
        if self._last_full is None:
            return True  # this process has not verified the whole log yet
        return time.monotonic() - self._last_full >= self.settings.full_verify_hours * 3600

    def newest(self) -> Found | None:
        """The newest checkpoint in ``out`` that loads and is signed by this key (others are logged and passed over)."""
        try:
            listed = os.listdir(self.settings.out)
        except OSError as error:
            raise InvalidInput(f"cannot list {self.settings.out}: {error.strerror or error}") from None
        self._remove_stale([n for n in listed if TEMPORARY.match(n)])
        names = sorted((n for n in listed if FILE_NAME.match(n)), reverse=True)
        for name in names:
            path = self.settings.out / name
            try:
                found = cp.load(path)
                cp.check_signature(found, self.public_key, str(path))
            except (InvalidInput, AuditVerificationFailed) as error:
                log.warning("checkpoint_ignored", daemon_id=self.daemon_id, file=str(path), reason=str(error))
                continue
            if file_name(found.tree_size) != name:
                log.warning(
                    "checkpoint_ignored", daemon_id=self.daemon_id, file=str(path), reason="its name is not its seq"
                )
                continue
            return Found(found, path)
        return None

    def _remove_stale(self, names: list[str]) -> None:
        """Remove temporary files left by a daemon that died between writing and linking (never a recent one)."""
        for name in names:
            path = self.settings.out / name
            try:
                if time.time() - path.stat().st_mtime > STALE_SECONDS:
                    path.unlink()
                    log.info("checkpoint_temporary_removed", daemon_id=self.daemon_id, file=str(path))
            except FileNotFoundError:
                continue  # another daemon removed it first

    def _write(self, result: Extension, started: float) -> Path | None:
        signed = result.checkpoint
        assert signed is not None
        target = self.settings.out / file_name(signed.tree_size)
        written = write_exclusive(target, signed.to_text().encode("utf-8"))
        fields = {
            "daemon_id": self.daemon_id,
            "file": str(target),
            "tree_size": signed.tree_size,
            "head_hash": signed.head_hash,
            "root": signed.root,
            "key_id": signed.key_id,
            "mode": result.mode,
            "checked": result.checked,
            "replayed": result.replayed,
            "streams": result.streams,
            "seconds": round(time.monotonic() - started, 3),
        }
        if not written:
            log.info("checkpoint_exists", **fields)  # another daemon signed the same head first
            return None
        log.info("checkpoint_written", **fields)
        return target


def write_exclusive(target: Path, data: bytes) -> bool:
    """Write *data* to the new file *target* atomically and durably; False if *target* already exists.

    A temporary file in the same directory is written and fsynced, then hard-linked to
    *target* (``link`` fails rather than replace an existing file, unlike ``rename``), then
    removed; the directory is fsynced so the new name survives a power cut.

    Raises:
        OSError: the directory cannot be written.
    """
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
    finally:
        os.unlink(temporary)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True
