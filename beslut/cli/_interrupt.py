"""Ctrl-C as a command's refusal: one ``error: interrupted`` line, exit 130, nothing half-written.

Why its own exception: Click turns a ``KeyboardInterrupt`` into ``Abort`` after printing an empty
line, and ``except Exception`` blocks deep in libraries may swallow or wrap what they catch.
:class:`Interrupted` derives from ``BaseException`` only, so it passes through both and through
every ``with`` block on its way out: the store's unit of work rolls back on any ``BaseException``,
and files a command writes are removed by :func:`removed_if_interrupted`.
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

EXIT_CODE = 130  # 128 + SIGINT, as shells report a process ended by Ctrl-C


class Interrupted(BaseException):
    """SIGINT arrived while a command ran."""


def _raise(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """While the block runs, SIGINT raises :class:`Interrupted` (main thread only; restored afterwards).

    Commands that handle SIGINT themselves (``scheduler run``, ``serve``) install their own handler
    inside the block and restore this one when they return.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def removed_if_interrupted(path: Path) -> Iterator[None]:
    """Remove *path* (a file or a directory tree this command creates) if the block is interrupted or fails.

    Why: a partly written checkpoint, calendar or package would look like a whole one to whoever
    opens it later. Only paths that did not exist before the block are removed: an empty directory
    the user made for ``--out`` stays.
    """
    existed = path.exists()
    try:
        yield
    except BaseException:
        if not existed:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        elif path.is_dir():  # an empty directory given: empty it again
            for child in path.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise
