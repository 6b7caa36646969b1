"""The exceptions `beslut` raises, in one leaf module so every layer can import it.

Two families, as in python-statemachine: :class:`DefinitionError` is a bug in a
machine definition (it should never reach a user), while everything under
:class:`Refusal` is a command that was refused and changed nothing. The CLI maps
each family to an exit code (2 refused, 3 conflict, 4 audit failure), so the
hierarchy *is* the exit-code contract.
"""

from __future__ import annotations


class BeslutError(Exception):
    """Root of every error raised on purpose by `beslut`."""

    exit_code = 1


class DefinitionError(BeslutError):
    """A machine definition is inconsistent: a programming error, not user input."""


class Refusal(BeslutError):
    """A command was refused; nothing was written."""

    exit_code = 2


class InvalidInput(Refusal, ValueError):
    """The input is malformed: a bad spec field, a bad date, an unknown option value."""


class FieldError(InvalidInput):
    """A refused value of one field of a command's input, named the way the face that took it names it.

    The domain names the field as the command's input does (``case_number``: the engine's keyword,
    the API's and the batch's JSON key); the command line shows its option instead (``--case``) by
    :meth:`render`. ``template`` holds ``{field}`` where the name goes; ``prefix`` is what a batch
    puts in front (which item was refused).
    """

    def __init__(self, field: str, template: str) -> None:
        self.field = field
        self.template = template
        self.prefix = ""
        super().__init__(self.render(field))

    def render(self, name: str) -> str:
        """The message with the field called *name*."""
        return self.prefix + self.template.format(field=name)

    def put_first(self, text: str) -> None:
        """Put *text* in front of the message (a batch naming its item)."""
        self.prefix = text + self.prefix
        self.args = (self.render(self.field),)


class SpecError(InvalidInput):
    """A recommendation spec is invalid; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        # A message quotes what it refuses; a 100 kB value must not become a 100 kB error line.
        super().__init__(f"spec field {_shorten(repr(field), 120)}: {_shorten(problem, 400)}")


def _shorten(text: str, limit: int) -> str:
    """*text*, cut to *limit* characters with an ellipsis if it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class NotFound(Refusal, LookupError):
    """An unknown recommendation or party key."""


class Duplicate(Refusal):
    """The thing already exists (a recommendation key, a second decision)."""


class RuleViolation(Refusal):
    """The command is well-formed but a rule of the domain forbids it now."""


class TransitionNotAllowed(RuleViolation):
    """A trigger is not allowed in the current state of a machine."""

    def __init__(self, *, machine: str, subject: str, trigger: str, state: str, allowed: list[str]) -> None:
        self.machine = machine
        self.subject = subject
        self.trigger = trigger
        self.state = state
        self.allowed = allowed
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(f"{machine} {subject} is {state!r}: {trigger!r} is not allowed; allowed: {allowed_text}")


class ConcurrencyConflict(BeslutError):
    """Someone else changed the recommendation since it was read: retry with a fresh version."""

    exit_code = 3


class StoreError(BeslutError):
    """The database could not do what was asked (not a refusal of the input)."""


class StoreUnavailable(StoreError):
    """The database cannot be used at all: a directory, a file that is no database, a read-only file or mount.

    Its own exit code (5), apart from a refusal (2: the input was wrong) and a store error during a
    command (1): the path given with ``--db`` is wrong or the file system will not allow the write,
    so retrying the same command cannot help; the message names which.
    """

    exit_code = 5


class ProgramMissing(BeslutError):
    """A program `beslut` runs is not installed (Graphviz's ``dot`` for an SVG diagram); exit 6.

    Not a refusal of the input and not the database: the machine lacks a tool, and the message
    says which and what to do instead.
    """

    exit_code = 6


class AuditVerificationFailed(BeslutError):
    """The audit log does not verify."""

    exit_code = 4
