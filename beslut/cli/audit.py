"""`beslut audit …`: the auditor's commands. None of them writes to the database.

Every command that reads the database opens it read-only (SQLite ``mode=ro``;
PostgreSQL read-only transactions, and a SELECT-only role if the URL names one), so
they can be run against a production database or a copy without any risk of changing
it. Commands that check a file (`verify-proof`, `verify-export`) need no database at all.
docs/auditor.md says what each command proves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from beslut import render
from beslut.cli._app import audit_app
from beslut.cli._interrupt import removed_if_interrupted
from beslut.cli._into import empty_target
from beslut.cli._options import Db, Json, describe_db, emit_json, refuse_directory
from beslut.clock import STOCKHOLM
from beslut.errors import AuditVerificationFailed, InvalidInput, NotFound
from beslut.persistence import DEFAULT_DATABASE, open_store
from beslut.workflow.documents import audit_record_json

if TYPE_CHECKING:  # the audit modules are imported by the commands that use them, not by every `beslut`
    from beslut.audit import checkpoint as checkpoints
    from beslut.audit import service
    from beslut.persistence import Store

CheckpointFile = Annotated[Path, typer.Option("--checkpoint", help="A checkpoint file made by `audit checkpoint`.")]
PubKey = Annotated[Path, typer.Option("--pubkey", help="The public key (PEM) the checkpoint must be signed with.")]
Out = Annotated[Path | None, typer.Option("--out", help="Write to this new file instead of stdout.")]


@contextmanager
def read_only_store(db: str | None) -> Iterator[Store]:
    """The database, opened read-only; refused (exit 2) when it does not exist or was never initialised."""
    from beslut.persistence.schema import require_current_store  # noqa: PLC0415 - SQLAlchemy when a command runs

    target = db or os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    refuse_directory(target)
    if "://" not in target and not Path(target).is_file():
        raise NotFound(f"database {target} does not exist: run `beslut init` first")
    store = open_store(target, read_only=True)
    try:
        if not store.is_initialised():
            raise NotFound(f"database {describe_db(db)} is not initialised: run `beslut init` first")
        require_current_store(store)
        yield store
    finally:
        store.close()


def _write_new(path: Path, text: str) -> None:
    """Write *text* to a new file; an existing file (a checkpoint, a proof) is never overwritten."""
    try:
        with path.open("x", encoding="utf-8") as handle, removed_if_interrupted(path):
            handle.write(text)
    except FileExistsError:
        raise InvalidInput(f"{path} already exists: it is never overwritten") from None
    except OSError as error:
        raise InvalidInput(f"cannot write {path}: {error.strerror or error}") from None


def _load_checkpoint(path: Path, pubkey: Path | None) -> checkpoints.Checkpoint:
    from beslut.audit import checkpoint as checkpoints  # noqa: PLC0415
    from beslut.audit import keys  # noqa: PLC0415

    loaded = checkpoints.load(path)
    if pubkey is not None:
        checkpoints.check_signature(loaded, keys.load_public(pubkey), str(path))
    return loaded


# ---------------------------------------------------------------- verify


@audit_app.command("verify")
def audit_verify(
    db: Db = None,
    json_output: Json = False,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Also prove the log still extends this signed checkpoint.")
    ] = None,
    pubkey: Annotated[
        Path | None, typer.Option("--pubkey", help="The public key (PEM) the checkpoint must be signed with.")
    ] = None,
) -> None:
    """Verify the log: hash chain, gap-free seq and stream_seq, legal transitions, and a checkpoint if given.

    Exit 0 when everything holds; 4 naming the first bad seq and what is wrong.
    """
    from beslut.audit import checkpoint as checkpoints  # noqa: PLC0415
    from beslut.audit import keys, service  # noqa: PLC0415

    signed: checkpoints.Checkpoint | None = None
    if (checkpoint is None) != (pubkey is None):
        raise InvalidInput("--checkpoint and --pubkey go together: a checkpoint proves nothing without its key")
    if checkpoint is not None and pubkey is not None:
        public_key = keys.load_public(pubkey)
        signed = checkpoints.load(checkpoint)
        checkpoints.check_signature(signed, public_key, str(checkpoint))
    with read_only_store(db) as store:
        report = service.verify_store(store, checkpoint=signed, source=str(checkpoint or ""))
    if json_output:
        emit_json(report.as_dict())
    elif report.ok:
        typer.echo(f"ok: {report.events} events, head seq {report.head_seq}, hash {report.head_hash}")
        if signed is not None:
            typer.echo(f"ok: the log extends the {signed.describe()}")
    if not report.ok:
        typer.echo(f"error: audit log broken at seq {report.first_bad_seq}: {report.problem}", err=True)
        raise typer.Exit(4)


# ---------------------------------------------------------------- log


@audit_app.command("log")
def audit_log(
    key: Annotated[str | None, typer.Argument(help="One recommendation; all when omitted.")] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """The audit events, oldest first, as the database holds them (unverified: `audit verify` checks them)."""
    from beslut.audit import service  # noqa: PLC0415

    with read_only_store(db) as store:
        records = service.log_records(store, key)
    if json_output:
        emit_json([_record_dict(r) for r in records])
        return
    out = render.console()
    table = render.table_of("seq", "valid on", "recorded at", "recommendation", "event", "details", "hash")
    for r in records:
        try:
            payload = json.loads(r.payload)
            details = render.describe(payload) if isinstance(payload, dict) else ""
        except ValueError:
            details = "(payload is not JSON)"
        table.add_row(str(r.seq), r.valid_on, r.recorded_at[:19], r.stream, r.kind, details, r.hash[:12])
    out.print(table)


_record_dict = audit_record_json


# ---------------------------------------------------------------- keys and checkpoints


@audit_app.command("keygen")
def audit_keygen(
    out_private: Annotated[Path, typer.Option("--out-private", help="New file for the private key (mode 0600).")],
    out_public: Annotated[Path, typer.Option("--out-public", help="New file for the public key.")],
) -> None:
    """Make an Ed25519 key pair for signing checkpoints (PEM files; never overwrites a file)."""
    from beslut.audit import keys  # noqa: PLC0415

    ident = keys.generate(out_private, out_public)
    typer.echo(f"key {ident}: private key in {out_private} (keep it secret), public key in {out_public}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[Path, typer.Option("--key", help="The private key (PEM) to sign with.")],
    out: Out = None,
    db: Db = None,
) -> None:
    """Verify the whole log, then sign its head and Merkle root into a small JSON file to keep outside the database."""
    from beslut.audit import keys, service  # noqa: PLC0415

    private_key = keys.load_private(key)
    if out is not None and out.exists():
        raise InvalidInput(f"{out} already exists: it is never overwritten")
    with read_only_store(db) as store:
        signed = service.make_checkpoint(store, private_key, now=datetime.now(STOCKHOLM))
    if out is None:
        typer.echo(signed.to_text(), nl=False)
        return
    _write_new(out, signed.to_text())
    typer.echo(f"{signed.describe()} written to {out}")


@audit_app.command("prove")
def audit_prove(
    seq: Annotated[int, typer.Argument(help="The seq of the event to prove.")],
    checkpoint: CheckpointFile,
    out: Out = None,
    pubkey: Annotated[
        Path | None, typer.Option("--pubkey", help="Check the checkpoint's signature with this key first.")
    ] = None,
    db: Db = None,
) -> None:
    """Print an inclusion proof of event SEQ against a checkpoint, checkable offline with `audit verify-proof`."""
    from beslut.audit import proofs, service  # noqa: PLC0415

    signed = _load_checkpoint(checkpoint, pubkey)
    if out is not None and out.exists():
        raise InvalidInput(f"{out} already exists: it is never overwritten")
    with read_only_store(db) as store:
        (inclusion,) = service.prove(store, signed, [seq])
    text = proofs.dumps(inclusion.document(signed))
    if out is None:
        typer.echo(text, nl=False)
        return
    _write_new(out, text)
    typer.echo(f"inclusion proof of seq {seq} against the {signed.describe()} written to {out}")


@audit_app.command("prove-consistency")
def audit_prove_consistency(
    first: Annotated[Path, typer.Argument(help="The earlier checkpoint.")],
    second: Annotated[Path, typer.Argument(help="The later checkpoint.")],
    out: Out = None,
    pubkey: Annotated[
        Path | None, typer.Option("--pubkey", help="Check both checkpoints' signatures with this key first.")
    ] = None,
    db: Db = None,
) -> None:
    """Print a proof that the log signed by SECOND extends the one signed by FIRST (RFC 6962 consistency)."""
    from beslut.audit import proofs, service  # noqa: PLC0415

    old = _load_checkpoint(first, pubkey)
    new = _load_checkpoint(second, pubkey)
    if out is not None and out.exists():
        raise InvalidInput(f"{out} already exists: it is never overwritten")
    with read_only_store(db) as store:
        document = service.prove_extends(store, old, new)
    text = proofs.dumps(document)
    if out is None:
        typer.echo(text, nl=False)
        return
    _write_new(out, text)
    typer.echo(f"consistency proof from seq 1..{old.tree_size} to seq 1..{new.tree_size} written to {out}")


@audit_app.command("verify-proof")
def audit_verify_proof(
    proof: Annotated[Path, typer.Argument(help="A proof file from `audit prove` or `audit prove-consistency`.")],
    pubkey: PubKey,
) -> None:
    """Check a proof offline, without any database: the signature, the event's own hash, the path to the root."""
    from beslut.audit import keys, proofs  # noqa: PLC0415

    public_key = keys.load_public(pubkey)
    try:
        data = proof.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read proof {proof}: {error.strerror or error}") from None
    document = proofs.load_document(data, str(proof))
    typer.echo(proofs.verify_document(document, public_key, str(proof)))


# ---------------------------------------------------------------- replay


@audit_app.command("replay")
def audit_replay(
    as_of_recorded: Annotated[
        str | None,
        typer.Option(
            "--as-of-recorded",
            "--as-of",
            help="What the system showed at this instant (events recorded by then; local time if no offset).",
        ),
    ] = None,
    as_of_valid: Annotated[
        str | None,
        typer.Option(
            "--as-of-valid",
            help="What had been decided by this date (events whose legal date is on or before it): YYYY-MM-DD, or"
            " an instant, which counts on its date in Europe/Stockholm.",
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Compare with the live tables; exit 4 showing every difference.")
    ] = False,
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            help="Write the rebuild into this new SQLite file or empty PostgreSQL database: the events verbatim, "
            "the recommendations, parties and timers as replayed.",
        ),
    ] = None,
    db: Db = None,
    json_output: Json = False,
) -> None:
    """Rebuild every recommendation from the audit log alone, through the same machines, and print it."""
    from beslut.audit import service  # noqa: PLC0415
    from beslut.states.replay import parse_as_of  # noqa: PLC0415

    instant, day = parse_as_of(as_of_recorded, as_of_valid)
    if into is not None:
        _replay_into(into, db, json_output=json_output, as_of=instant is not None or day is not None, check=check)
        return
    with read_only_store(db) as store:
        result = service.replay_store(store, as_of_recorded=instant, as_of_valid=day, check=check)
    try:
        _print_replay(result, instant=instant, day=day, json_output=json_output, check=check)
    finally:
        result.close()
    differences = result.differences or []
    if differences:
        raise AuditVerificationFailed(
            f"the live tables differ from the replayed log in {len(differences)} place(s), first {differences[0]}"
        )


def _print_replay(
    result: service.ReplayResult, *, instant: datetime | None, day: date | None, json_output: bool, check: bool
) -> None:
    differences = result.differences or []
    if json_output:
        _emit_replay_json(result)
    elif check:
        for difference in differences:
            typer.echo(str(difference))
        if not differences:
            typer.echo(
                f"ok: the live tables equal the replay of {result.events} events "
                f"({len(result.statuses)} recommendations)"
            )
    else:
        what = f"{result.events} of {result.log_events} events"
        if instant is not None:
            what += f", as recorded by {instant.isoformat()}"
        if day is not None:
            what += f", as decided by {day.isoformat()}"
        typer.echo(f"replayed {what}")
        render.print_statuses(result.statuses, detailed=False)  # a stream: one short row each, not every document
        for held in result.held_back:
            typer.echo(
                f"held back: seq {held.seq} {held.kind} ({held.stream}, valid on {held.valid_on}): {held.reason}"
            )


def _emit_replay_json(result: service.ReplayResult) -> None:
    """`emit_json(result.as_dict())`, byte for byte, with the recommendations written one at a time (flat memory)."""
    if not result.statuses:
        emit_json(result.as_dict())
        return
    typer.echo('{\n  "recommendations": [', nl=False)
    for index, status in enumerate(result.statuses):
        text = textwrap.indent(json.dumps(status, ensure_ascii=False, indent=2), "    ")
        typer.echo(("," if index else "") + "\n" + text, nl=False)
    rest = json.dumps(result.report(), ensure_ascii=False, indent=2)
    typer.echo("\n  ],\n" + rest.removeprefix("{\n"))


def _replay_into(into: str, db: str | None, *, json_output: bool, as_of: bool, check: bool) -> None:
    """`audit replay --into`: check the source log, then write a fresh database from it (see beslut.audit.rebuild)."""
    from beslut.audit.rebuild import rebuild_into  # noqa: PLC0415

    if as_of or check:
        raise InvalidInput("--into rebuilds the present from the whole log: leave out --as-of and --check")
    with read_only_store(db) as source, empty_target(into) as target:
        rebuilt = rebuild_into(source, target)
    if json_output:
        emit_json({"into": into, **dataclasses.asdict(rebuilt)})
        return
    typer.echo(
        f"rebuilt {into}: {rebuilt.events} events copied verbatim, {rebuilt.recommendations} recommendations, "
        f"{rebuilt.deadlines} pending timers"
    )


# ---------------------------------------------------------------- export


@audit_app.command("export")
def audit_export(
    key: Annotated[str, typer.Argument(help="The recommendation's key.")],
    out: Annotated[Path, typer.Option("--out", help="A new (or empty) directory for the package.")],
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Include this checkpoint and an inclusion proof per event.")
    ] = None,
    pubkey: Annotated[
        Path | None, typer.Option("--pubkey", help="Check the checkpoint's signature with this key first.")
    ] = None,
    db: Db = None,
) -> None:
    """Write an archive package of one recommendation (E-ARK CSIP style): events, case report, proofs, manifest."""
    from beslut.audit import service  # noqa: PLC0415

    signed = _load_checkpoint(checkpoint, pubkey) if checkpoint is not None else None
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} exists and is not an empty directory: a package is never written over anything")
    with read_only_store(db) as store, removed_if_interrupted(out):
        exported = service.export_case(
            store, key, out, checkpoint=signed, source=str(checkpoint or ""), now=datetime.now(STOCKHOLM)
        )
    proven = f", {exported.proven} proven against the checkpoint" if signed is not None else ""
    typer.echo(f"{key}: {exported.events} events{proven}, {exported.files} files written to {out}")


@audit_app.command("verify-export")
def audit_verify_export(
    package: Annotated[Path, typer.Argument(help="The package directory written by `audit export`.")],
    pubkey: Annotated[
        Path | None,
        typer.Option("--pubkey", help="The public key the package's checkpoint must be signed with (to check proofs)."),
    ] = None,
) -> None:
    """Check a package offline, without any database: manifest digests, event hashes, replay, signature and proofs."""
    from beslut.audit import keys  # noqa: PLC0415
    from beslut.audit.export import verify_package  # noqa: PLC0415

    public_key = keys.load_public(pubkey) if pubkey is not None else None
    typer.echo(verify_package(package, public_key).describe())
