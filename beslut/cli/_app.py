"""The Typer application objects and the entry point that turns refusals into exit codes."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from beslut.cli._options import close_engines
from beslut.errors import BeslutError, Refusal

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
    try:
        code = app(args=argv, standalone_mode=False, prog_name="beslut")
    except TyperException as error:  # usage errors: unknown option, missing argument, bad choice
        # With no command Typer prints the help and raises an error with no message of its own.
        _fail(error.format_message() or "no command given: choose one of the commands listed above", 2)
    except typer.Abort:
        _fail("aborted", 130)
    except Refusal as error:
        _fail(str(error), error.exit_code)
    except BeslutError as error:
        _fail(str(error), error.exit_code)
    finally:
        close_engines()
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    first_line = " ".join(message.split())
    print(f"error: {first_line}", file=sys.stderr)
    sys.exit(code)
