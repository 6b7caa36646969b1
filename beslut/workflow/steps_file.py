"""Reading a file of party steps for ``beslut party import``: JSON Lines or CSV, one step a line.

Each line becomes a :class:`~beslut.workflow.batch.PartyStep` tagged with its line number,
so a refusal (here, or by the engine later) names the line to fix. The fields are the
step's: ``action, key, party, on`` and, as the action needs them, the fields of its party
command (``case_number``, ``body``, ``paragraph``, ``outcome``, ``conditions``, ``result``: the
command table's); ``expected_version`` is optional. Unknown
fields are refused rather than ignored: a misspelt ``conditons`` must not vanish. A step
carries no ``actor``: the whole import is recorded as the one actor id of ``--actor``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Final

from beslut.errors import InvalidInput
from beslut.states.commands import STEPS
from beslut.workflow.batch import PartyStep

# Every field of every party step (beslut.states.commands), each once, in the table's order.
TEXT_FIELDS: Final = tuple(dict.fromkeys(param.name for command in STEPS.values() for param in command.params))
FIELDS = ("action", "key", "party", "on", *TEXT_FIELDS, "expected_version")
MAX_BYTES = 200 * 1024 * 1024  # one transaction; a bigger import is split by the caller


def read_steps(path: Path) -> list[PartyStep]:
    """The steps in *path*: CSV if its name ends in .csv (a header row names the fields), JSON Lines otherwise."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_BYTES // 1024 // 1024} MB; split the import")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{path}: cannot read it ({error})") from None
    return parse_steps(text, csv_format=path.suffix.lower() == ".csv")


def parse_steps(text: str | Iterable[str], *, csv_format: bool) -> list[PartyStep]:
    """The steps in *text* (or its lines, e.g. a file open in text mode, read as they come): CSV or JSON Lines."""
    if csv_format:
        return _csv_steps(text)
    return _jsonl_steps(text)


def _jsonl_steps(text: str | Iterable[str]) -> list[PartyStep]:
    steps: list[PartyStep] = []
    for number, line in enumerate(text.splitlines() if isinstance(text, str) else text, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"line {number}: not JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise InvalidInput(f"line {number}: expected a JSON object")
        steps.append(_step(value, number))
    return steps


def _csv_steps(text: str | Iterable[str]) -> list[PartyStep]:
    reader = csv.DictReader(io.StringIO(text) if isinstance(text, str) else text)
    steps: list[PartyStep] = []
    try:
        for row in reader:
            if None in row:
                raise InvalidInput(f"line {reader.line_num}: more cells than header columns")
            steps.append(_step({k: v for k, v in row.items() if v not in ("", None)}, reader.line_num))
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: not CSV ({error})") from None
    return steps


def _step(value: dict[Any, Any], number: int) -> PartyStep:
    where = f"line {number}"
    if "actor" in value:
        # Who acts is one id for the whole import (--actor / BESLUT_ACTOR), checked before the file is read;
        # a step's own actor would be a second way into the hashed log, and names would come that way.
        raise InvalidInput(f"{where}: a step has no 'actor': the import's actor is --actor (or BESLUT_ACTOR), an id")
    unknown = sorted(str(k) for k in value if k not in FIELDS)
    if unknown:
        raise InvalidInput(f"{where}: unknown field {unknown[0][:60]!r}; fields are {', '.join(FIELDS)}")
    for name in ("action", "key", "party", "on"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise InvalidInput(f"{where}: {name!r} must be a non-empty string")
    for name in TEXT_FIELDS:
        if name in value and value[name] is not None and not isinstance(value[name], str):
            raise InvalidInput(f"{where}: {name!r} must be a string")
    try:
        on = date.fromisoformat(value["on"])
    except ValueError:
        raise InvalidInput(f"{where}: 'on' {value['on'][:40]!r} is not a date (YYYY-MM-DD)") from None
    version = value.get("expected_version")
    if isinstance(version, str):
        if not version.isdigit() or len(version) > 18:
            raise InvalidInput(f"{where}: 'expected_version' must be a whole number")
        version = int(version)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise InvalidInput(f"{where}: 'expected_version' must be a whole number")
    texts = {name: value.get(name) for name in TEXT_FIELDS}
    return PartyStep(
        action=value["action"],
        key=value["key"],
        party=value["party"],
        on=on,
        expected_version=version,
        source=where,
        **texts,
    )


__all__ = ["FIELDS", "MAX_BYTES", "parse_steps", "read_steps"]
