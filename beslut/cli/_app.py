"""The Typer application objects and the entry point that turns refusals into exit codes."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from beslut.cli._interrupt import EXIT_CODE as INTERRUPTED
from beslut.cli._interrupt import Interrupted, interrupts_raised
from beslut.cli._options import close_engines
from beslut.errors import BeslutError, FieldError, Refusal
from beslut.states.commands import OPTIONS

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Follow a recommendation that many independent parties must each decide on.",
)
party_app = typer.Typer(
    no_args_is_help=True, help="Record a party's steps: prepare, propose, decide, announce, appeal, settle, report."
)
audit_app = typer.Typer(no_args_is_help=True, help="Read and verify the hash-chained audit log.")
scheduler_app = typer.Typer(no_args_is_help=True, help="Run the scheduler daemon and see whether it is alive.")
contact_app = typer.Typer(no_args_is_help=True, help="The people who receive a party's reminders.")
token_app = typer.Typer(no_args_is_help=True, help="Tokens for the HTTP API (`beslut serve`): create, list, revoke.")
app.add_typer(party_app, name="party")
app.add_typer(audit_app, name="audit")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(contact_app, name="contact")
app.add_typer(token_app, name="token")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; refusals become one ``error:`` line on stderr and their exit code."""
    _refuse_nul(sys.argv[1:] if argv is None else argv)
    try:
        with interrupts_raised():
            code = app(args=argv, standalone_mode=False, prog_name="beslut")
    except (Interrupted, KeyboardInterrupt):  # the second: Ctrl-C outside the main thread's handler
        _fail("interrupted", INTERRUPTED)
    except TyperException as error:  # usage errors: unknown option, missing argument, bad choice
        # With no command Typer prints the help and raises an error with no message of its own.
        _fail(error.format_message() or "no command given: choose one of the commands listed above", 2)
    except typer.Abort:
        _fail("aborted", 130)
    except FieldError as error:
        # A single command's field is an option here (--case); a batch line's stays its JSON key.
        name = error.field if error.prefix else OPTIONS.get(error.field, error.field)
        _fail(error.render(name), error.exit_code)
    except Refusal as error:
        _fail(str(error), error.exit_code)
    except BeslutError as error:
        _fail(str(error), error.exit_code)
    finally:
        close_engines()
    sys.exit(code if isinstance(code, int) else 0)


def _refuse_nul(argv: list[str]) -> None:
    """Refuse an argument holding NUL before any command runs (exit 2).

    Why: no store can hold it (PostgreSQL refuses NUL in text outright, as a store error deep in a
    query, where SQLite would quietly store it), and a real process never receives one (execve ends
    an argument at NUL), so only an embedding caller can pass it; the answer is the same refusal
    for every command and both stores. The HTTP API and the Engine refuse it on their own side.
    """
    for position, argument in enumerate(argv, start=1):
        if "\x00" in argument:
            _fail(f"argument {position} contains a NUL character", 2)


def _fail(message: str, code: int) -> None:
    first_line = " ".join(message.split())
    print(f"error: {first_line}", file=sys.stderr)
    sys.exit(code)
