"""Who acted: the one rule for an actor id, the value every audit payload records as ``actor``.

The audit log is hashed and append-only: what goes into it stays for good (archive law keeps it,
and erasing one payload would break the chain). So the actor must be an id that points at a
person or a system kept elsewhere, never the person's name or e-mail address. The rule is
deliberately narrow and checkable: 1 to 64 ASCII letters, digits and the four signs ``. _ : -``.
No space (a name has one), no ``@`` (an e-mail address has one). Every face calls this one
function: the CLI's ``--actor`` and ``BESLUT_ACTOR``, :class:`beslut.workflow.engine.Engine`
(and so the HTTP API, whose actor is ``token:<token id>``), and the ids the engine records by
itself (``scheduler``, ``cli``, ``api``).
"""

from __future__ import annotations

import re
from typing import Final, TypeGuard

from beslut.errors import InvalidInput

MAX_ACTOR_LENGTH: Final = 64
_ACTOR_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
RULE: Final = f"1-{MAX_ACTOR_LENGTH} ASCII letters, digits and . _ : - (no spaces, no @)"


def is_actor_id(value: object) -> TypeGuard[str]:
    """True when *value* is a string the audit log may record as an actor."""
    return isinstance(value, str) and _ACTOR_ID.fullmatch(value) is not None


def actor_id(value: object, *, source: str = "actor") -> str:
    """*value*, when it is an actor id; otherwise refuse it, naming *source* (``--actor``, ``BESLUT_ACTOR``, …).

    Raises:
        InvalidInput: not a string, empty, longer than 64 characters, or with a character outside the rule.
    """
    if is_actor_id(value):
        return value
    if not isinstance(value, str):
        problem = f"must be a string, not {type(value).__name__}"
    elif not value:
        problem = "is empty"
    elif len(value) > MAX_ACTOR_LENGTH:
        problem = f"is {len(value)} characters long"
    else:
        # Quote at most a little of it: the refusal must not become the place a long name is kept.
        shown = value if len(value) <= 40 else value[:39] + "…"
        problem = f"{shown!r} is not an id"
    raise InvalidInput(
        f"{source} {problem}: an actor is an id of {RULE}, never a name or an e-mail address "
        "(the audit log keeps it for good)"
    )


__all__ = ["MAX_ACTOR_LENGTH", "RULE", "actor_id", "is_actor_id"]
