"""The auditor's endpoints: verify against a checkpoint, sign one, prove, replay, export a package.

Each route calls the very function ``beslut audit …`` calls (:mod:`beslut.audit.service`,
:mod:`beslut.audit.proofs`, :func:`beslut.audit.export.verify_package`); only the
transport differs: a file the CLI reads (a checkpoint, a proof, a public key) travels
here as a member of the JSON body, and a package directory as a zip archive.

Nothing here writes to the database. A log, checkpoint, proof or package that does not
verify is a **409** problem (``urn:beslut:problem:audit-broken``) whose extension members
carry what the CLI prints with ``--json``: the server worked, the evidence did not hold,
and a ``curl -f`` monitor must see a failure (docs/api.md, "Audit").

Roles: every role may read and verify (``auditor`` exists for exactly that); signing a
checkpoint with the server's key is for ``auditor`` and ``admin``. ``audit keygen`` has no
endpoint: a private key must never travel over HTTP (docs/api.md).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from beslut.api.auth import CurrentPrincipal, Principal, require_role, store_of
from beslut.api.problems import AUDIT_BROKEN, PROBLEM_RESPONSES, ApiProblem, Kind, problem_response
from beslut.audit import checkpoint as checkpoints
from beslut.audit import keys, proofs, service
from beslut.audit.export import verify_package
from beslut.audit.verify import Report
from beslut.errors import InvalidInput
from beslut.states.replay import parse_as_of

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["audit"])

Auditor = Annotated[Principal, Depends(require_role("auditor"))]

#: No signing key configured: not the caller's fault, and the same request succeeds once the operator sets one.
NO_KEY: Final = Kind(503, "checkpoint-key-missing", "The server has no checkpoint key", "error")
#: The body of ``POST /audit/verify-export`` is not a zip archive.
NOT_ZIP: Final = Kind(415, "unsupported-media-type", "The body is not of a supported media type", "invalid")

MAX_ARCHIVE: Final = 200 * 1024 * 1024  # bytes of a package archive as uploaded
MAX_UNPACKED: Final = 1024 * 1024 * 1024  # bytes it may unpack to (a zip bomb is refused, not unpacked)
MAX_MEMBERS: Final = 100_000

_BROKEN_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    409: {"description": "It does not verify (urn:beslut:problem:audit-broken); the extension members say why."}
}

_HEX: Final = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
#: The checkpoint file's shape (docs/auditor.md), so the document says what a checkpoint is; whether one holds
#: (its subtrees fold into its root, its signature verifies) only reading it can tell.
_CHECKPOINT_FIELDS: Final[dict[str, Any]] = {
    "format": {"const": checkpoints.FORMAT},
    "tree": {"const": checkpoints.TREE},
    "log_id": _HEX,
    "tree_size": {"type": "integer", "minimum": 1},
    "head_seq": {"type": "integer", "minimum": 1},
    "head_hash": _HEX,
    "root": _HEX,
    "subtrees": {"type": "array", "items": _HEX, "minItems": 1},
    "created_at": {"type": "string", "format": "date-time"},
    "key_id": _HEX,
    "signature": {"type": "string", "pattern": "^[A-Za-z0-9+/]{86}==$"},
}
CHECKPOINT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(_CHECKPOINT_FIELDS),
    "properties": _CHECKPOINT_FIELDS,
}
PubKeyField = Field(description="The Ed25519 public key (PEM text, as the `--pubkey` file holds it).")
CheckpointField = Field(
    description="A checkpoint, as `audit checkpoint` / `POST /audit/checkpoint` wrote it.",
    json_schema_extra=CHECKPOINT_SCHEMA,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerifyAgainst(_Body):
    """Verify the log and that it still extends a signed checkpoint (`audit verify --checkpoint --pubkey`)."""

    checkpoint: dict[str, Any] = CheckpointField
    pubkey: str = PubKeyField


class Prove(_Body):
    """An inclusion proof of one event against a checkpoint (`audit prove SEQ --checkpoint [--pubkey]`)."""

    seq: int = Field(ge=1, description="The seq of the event to prove.")
    checkpoint: dict[str, Any] = CheckpointField
    pubkey: str | None = Field(default=None, description="Check the checkpoint's signature with this key (PEM) first.")


class ProveConsistency(_Body):
    """A proof that the log signed by `second` extends the one signed by `first` (`audit prove-consistency`)."""

    first: dict[str, Any] = Field(description="The earlier checkpoint.", json_schema_extra=CHECKPOINT_SCHEMA)
    second: dict[str, Any] = Field(description="The later checkpoint.", json_schema_extra=CHECKPOINT_SCHEMA)
    pubkey: str | None = Field(default=None, description="Check both signatures with this key (PEM) first.")


class VerifyProof(_Body):
    """Check a proof offline (`audit verify-proof PROOF --pubkey`): no database is read."""

    proof: dict[str, Any] = Field(description="A proof from `POST /audit/prove` or `POST /audit/prove-consistency`.")
    pubkey: str = PubKeyField


class ExportAgainst(_Body):
    """Export with a checkpoint: the package then carries it and an inclusion proof per event."""

    checkpoint: dict[str, Any] = CheckpointField
    pubkey: str | None = Field(default=None, description="Check the checkpoint's signature with this key (PEM) first.")


# ---------------------------------------------------------------- the pieces a file used to carry


def public_key(pem: str, source: str = "pubkey") -> Ed25519PublicKey:
    """The public key sent as PEM text; refused (422) as ``audit … --pubkey`` refuses a bad file."""
    return keys.parse_public(pem.encode("utf-8"), source)


def signed_checkpoint(value: dict[str, Any], pubkey: str | None, source: str) -> checkpoints.Checkpoint:
    """A checkpoint from the body, checked field by field and (with a key) its signature; as the CLI loads a file.

    Raises:
        InvalidInput: malformed (422).
        AuditVerificationFailed: signed by another key or altered (409).
    """
    loaded = checkpoints.from_object(value, source)
    if pubkey is not None:
        checkpoints.check_signature(loaded, public_key(pubkey), source)
    return loaded


def json_text(text: str) -> Response:
    """A JSON document exactly as the CLI writes it to a file (so its bytes can be kept and compared)."""
    return Response(text, media_type="application/json")


def verify_answer(request: Request, report: Report) -> JSONResponse:
    """200 with the report when the log verifies; else a 409 problem carrying the same report.

    ``first_bad_seq`` and ``problem`` are repeated at the top for a monitor that reads one field;
    ``report`` is the whole `audit verify --json` document.
    """
    if report.ok:
        return JSONResponse(report.as_dict())
    return problem_response(
        AUDIT_BROKEN,
        f"audit log broken at seq {report.first_bad_seq}: {report.problem}",
        instance=request.url.path,
        extra={"first_bad_seq": report.first_bad_seq, "failed_check": report.failed_check, "report": report.as_dict()},
    )


# ---------------------------------------------------------------- verify, sign, prove


@router.post(
    "/audit/verify",
    name="audit_verify_checkpoint",
    summary="Verify the audit log against a signed checkpoint",
    description=(
        "The same report as `beslut audit verify --checkpoint FILE --pubkey KEY --json`: the whole log "
        "(hash chain, gap-free seq, legal transitions) and that it still extends the checkpoint. 200 with the "
        "report when everything holds; 409 audit-broken with the report when not (the CLI exits 4). Any role."
    ),
    responses=_BROKEN_RESPONSE,
)
def verify_against(request: Request, body: VerifyAgainst, principal: CurrentPrincipal) -> JSONResponse:
    """Verify the log and the checkpoint."""
    del principal  # any role may verify
    source = "in the request"
    signed = signed_checkpoint(body.checkpoint, body.pubkey, source)
    return verify_answer(request, service.verify_store(store_of(request), checkpoint=signed, source=source))


@router.post(
    "/audit/checkpoint",
    name="audit_checkpoint",
    summary="Sign a checkpoint of the audit log with the server's key",
    description=(
        "The same file as `beslut audit checkpoint --key FILE`: the whole log is verified, then its head and "
        "Merkle root are signed. The server signs only with the key its operator configured (`beslut serve "
        "--checkpoint-key FILE`); without one: 503 checkpoint-key-missing. A log that does not verify is "
        "never signed: 409 audit-broken. Roles: auditor, admin."
    ),
    responses={
        200: {"description": "The checkpoint (keep it outside the database).", "content": {"application/json": {}}},
        503: {"description": "The server has no checkpoint key (see `beslut serve --checkpoint-key`)."},
        **_BROKEN_RESPONSE,
    },
)
def make_checkpoint(request: Request, principal: Auditor) -> Response:
    """Sign a checkpoint."""
    del principal
    private_key = request.app.state.checkpoint_key
    if private_key is None:
        raise ApiProblem(
            NO_KEY,
            "this server has no checkpoint key: start it with `beslut serve --checkpoint-key FILE`, "
            "or sign with `beslut audit checkpoint --key FILE`",
        )
    signed = service.make_checkpoint(store_of(request), private_key, now=request.app.state.clock.now())
    return json_text(signed.to_text())


@router.post(
    "/audit/prove",
    name="audit_prove",
    summary="An inclusion proof of one event",
    description=(
        "The same proof as `beslut audit prove SEQ --checkpoint FILE [--pubkey KEY]`, checkable offline with "
        "`beslut audit verify-proof` or `POST /audit/verify-proof`. Any role."
    ),
    responses={200: {"description": "The proof document.", "content": {"application/json": {}}}, **_BROKEN_RESPONSE},
)
def prove(request: Request, body: Prove, principal: CurrentPrincipal) -> Response:
    """Prove one event's inclusion."""
    del principal
    signed = signed_checkpoint(body.checkpoint, body.pubkey, "in the request")
    (inclusion,) = service.prove(store_of(request), signed, [body.seq])
    return json_text(proofs.dumps(inclusion.document(signed)))


@router.post(
    "/audit/prove-consistency",
    name="audit_prove_consistency",
    summary="A consistency proof between two checkpoints",
    description=(
        "The same proof as `beslut audit prove-consistency FIRST SECOND [--pubkey KEY]`: the log signed by "
        "`second` extends the one signed by `first` (RFC 6962). Any role."
    ),
    responses={200: {"description": "The proof document.", "content": {"application/json": {}}}, **_BROKEN_RESPONSE},
)
def prove_consistency(request: Request, body: ProveConsistency, principal: CurrentPrincipal) -> Response:
    """Prove that one checkpoint's log extends another's."""
    del principal
    old = signed_checkpoint(body.first, body.pubkey, "`first` in the request")
    new = signed_checkpoint(body.second, body.pubkey, "`second` in the request")
    return json_text(proofs.dumps(service.prove_extends(store_of(request), old, new)))


@router.post(
    "/audit/verify-proof",
    name="audit_verify_proof",
    summary="Check a proof (no database)",
    description=(
        "What `beslut audit verify-proof PROOF --pubkey KEY` checks: the checkpoint's signature, the event's "
        'own hash, the path to the signed root. 200 {"ok": true, "verified": "<what it proves>"}; a proof '
        "that does not hold is 409 audit-broken. Stateless: the database is not read. Any role."
    ),
    responses=_BROKEN_RESPONSE,
)
def verify_proof(body: VerifyProof, principal: CurrentPrincipal) -> dict[str, Any]:
    """Check a proof offline."""
    del principal
    key = public_key(body.pubkey)
    source = "in the request"
    document = proofs.load_document(json.dumps(body.proof, ensure_ascii=False).encode("utf-8"), source)
    return {"ok": True, "verified": proofs.verify_document(document, key, source)}


# ---------------------------------------------------------------- replay


@router.get(
    "/audit/replay",
    name="audit_replay",
    summary="Rebuild every recommendation from the audit log alone",
    description=(
        "The same document as `beslut audit replay [--as-of-recorded T | --as-of-valid D] [--check] --json`. "
        "With `check=true` the replay is compared with the live tables: a difference is a 409 audit-broken "
        "whose `differences` member lists every one (and `replay` is the document without its "
        "recommendations). `--into` (writing another database) is CLI-only. Any role."
    ),
    responses=_BROKEN_RESPONSE,
)
def replay(
    request: Request,
    principal: CurrentPrincipal,
    as_of_recorded: Annotated[
        str | None,
        Query(
            description="What the system showed at this instant (local time if no offset).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    as_of_valid: Annotated[
        str | None,
        Query(description="What had been decided by this date (YYYY-MM-DD, or an instant: its Stockholm date)."),
    ] = None,
    check: Annotated[bool, Query(description="Compare with the live tables (present only).")] = False,
) -> Response:
    """Replay the log."""
    del principal
    instant, day = parse_as_of(as_of_recorded, as_of_valid)
    result = service.replay_store(store_of(request), as_of_recorded=instant, as_of_valid=day, check=check)
    differences = result.differences or []
    if not differences:
        return StreamingResponse(replay_document(result), media_type="application/json")
    try:
        return problem_response(
            AUDIT_BROKEN,
            f"the live tables differ from the replayed log in {len(differences)} place(s), first {differences[0]}",
            instance=request.url.path,
            extra={"differences": [d.as_dict() for d in differences], "replay": result.report()},
        )
    finally:
        result.close()


def replay_document(result: service.ReplayResult) -> Iterator[bytes]:
    """``result.as_dict()`` as JSON, one recommendation at a time, then the replay's temporary file is removed.

    Why streamed: the statuses are spooled to a file so that memory stays flat however many
    recommendations there are (:mod:`beslut.audit.streams`); building the whole document
    for a JSONResponse would undo that. The bytes are what JSONResponse would send.
    """
    try:
        yield b'{"recommendations":['
        for index, status in enumerate(result.statuses):
            yield (b"," if index else b"") + _compact(status)
        yield b"]," + _compact(result.report())[1:]  # the report's members after the list; never empty
    finally:
        result.close()


def _compact(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- export


def _archive_name(key: str) -> str:
    """A file name for *key*'s archive (a key may hold characters a file name must not)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", key) or "package"


def _zip_package(root: Path, archive: Path, top: str) -> None:
    """Zip the package directory *root* into *archive*, every member under the directory *top*."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zipped.write(path, f"{top}/{path.relative_to(root).as_posix()}")


def _export(request: Request, key: str, signed: checkpoints.Checkpoint | None, source: str) -> FileResponse:
    """`audit export KEY` into a temporary directory, zipped and streamed; the directory goes after the answer."""
    work = Path(tempfile.mkdtemp(prefix="beslut-export-"))
    try:
        package = work / "package"
        exported = service.export_case(
            store_of(request), key, package, checkpoint=signed, source=source, now=request.app.state.clock.now()
        )
        name = _archive_name(key)
        archive = work / f"{name}.zip"
        _zip_package(package, archive, name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"{name}.zip",
        headers={"X-Beslut-Events": str(exported.events), "X-Beslut-Proven": str(exported.proven)},
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )


_ZIP_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The package (E-ARK CSIP style) as a zip archive, every file under the directory KEY/.",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    },
    **_BROKEN_RESPONSE,
}


@router.get(
    "/audit/export/{key}",
    name="audit_export",
    summary="One recommendation's archive package, as a zip",
    description=(
        "The package `beslut audit export KEY --out DIR` writes, made by the same code in a temporary "
        "directory and sent as a zip. The whole log is verified first (409 audit-broken if it does not). "
        "`POST` the same path with a checkpoint to include it and an inclusion proof per event. Any role."
    ),
    response_class=FileResponse,
    responses=_ZIP_RESPONSE,
)
def export(
    request: Request,
    key: Annotated[str, PathParam(description="The recommendation's key.")],
    principal: CurrentPrincipal,
) -> FileResponse:
    """Export a package."""
    del principal
    return _export(request, key, None, "")


@router.post(
    "/audit/export/{key}",
    name="audit_export_checkpoint",
    summary="One recommendation's archive package with a checkpoint and proofs, as a zip",
    description="`beslut audit export KEY --checkpoint FILE [--pubkey KEY]`, as a zip. Any role.",
    response_class=FileResponse,
    responses=_ZIP_RESPONSE,
)
def export_against(
    request: Request,
    key: Annotated[str, PathParam(description="The recommendation's key.")],
    body: ExportAgainst,
    principal: CurrentPrincipal,
) -> FileResponse:
    """Export a package with a checkpoint."""
    del principal
    source = "in the request"
    return _export(request, key, signed_checkpoint(body.checkpoint, body.pubkey, source), source)


# ---------------------------------------------------------------- verify a package


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a package archive into *into* and return the package's root (the shallowest METS.xml's directory).

    Refuses, before writing anything, a member outside the archive's root (``..``, an absolute
    path), a link, too many members, or more than :data:`MAX_UNPACKED` bytes.

    Raises:
        InvalidInput: not a zip, unsafe, too large, or no package inside.
    """
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise ApiProblem(NOT_ZIP, "the body is not a zip archive (as GET /audit/export/{key} sends)") from None
    with zipped:
        members = zipped.infolist()
        if len(members) > MAX_MEMBERS:
            raise InvalidInput(f"the archive has more than {MAX_MEMBERS} members")
        if sum(m.file_size for m in members) > MAX_UNPACKED:
            raise InvalidInput(f"the archive unpacks to more than {MAX_UNPACKED // 1024 // 1024} MB")
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename or ":" in member.filename:
                raise InvalidInput(f"archive member {member.filename[:80]!r} is outside the package")
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise InvalidInput(f"archive member {member.filename[:80]!r} is a link")
            _check_readable(member)
        try:
            for member in members:
                _extract(zipped, member, into)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as error:
            raise InvalidInput(f"the archive cannot be unpacked: {error}") from None
    found = sorted(into.rglob("METS.xml"), key=lambda p: len(p.parts))
    if not found:
        raise InvalidInput("the archive holds no package: no METS.xml in it")
    return found[0].parent


_READABLE: Final = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


def _check_readable(member: zipfile.ZipInfo) -> None:
    """Refuse (422, naming it) a member flagged as encrypted or compressed with a method zipfile cannot read.

    Why before unpacking: :mod:`zipfile` raises ``RuntimeError`` / ``NotImplementedError`` for
    these only when the member is opened, which is not a refusal of the input but looked like
    a fault of the server (500).
    """
    if member.flag_bits & 0x1:
        raise InvalidInput(f"archive member {member.filename[:80]!r} is encrypted: a package is never encrypted")
    if member.compress_type not in _READABLE:
        raise InvalidInput(
            f"archive member {member.filename[:80]!r} uses compression method {member.compress_type}, "
            "which is not supported (stored, deflate, bzip2 or LZMA)"
        )


def _extract(zipped: zipfile.ZipFile, member: zipfile.ZipInfo, into: Path) -> None:
    """Unpack one member, never writing more than the size its header declares.

    Why not ``extractall``: a member's declared size is only checked after it has been
    inflated, so a forged header could still fill the disk; here the copy stops at the
    declared size plus one byte and refuses.
    """
    target = into.joinpath(*PurePosixPath(member.filename).parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zipped.open(member) as source, target.open("wb") as sink:
        while chunk := source.read(min(1024 * 1024, member.file_size - written + 1)):
            written += len(chunk)
            if written > member.file_size:
                raise InvalidInput(f"archive member {member.filename[:80]!r} is larger than its header says")
            sink.write(chunk)


def _verify_archive(archive: Path, pubkey: str | None) -> dict[str, Any]:
    key = public_key(pubkey) if pubkey is not None else None
    with tempfile.TemporaryDirectory(prefix="beslut-verify-") as work:
        report = verify_package(unpack(archive, Path(work)), key)
    return {
        "ok": True,
        "key": report.key,
        "files": report.files,
        "events": report.events,
        "proven": report.proven,
        "tree_size": report.tree_size,
        "signature_checked": report.signature_checked,
        "erms": report.erms,
        "verified": report.describe(),
    }


@router.post(
    "/audit/verify-export",
    name="audit_verify_export",
    summary="Check an archive package (no database)",
    description=(
        "What `beslut audit verify-export DIR [--pubkey KEY]` checks (manifest digests, event hashes, replay, "
        "signature and proofs), on the zip archive `GET /audit/export/{key}` sends, as the request body "
        "(`Content-Type: application/zip`). The public key, if any, is the `pubkey` query parameter (PEM; "
        "`curl --url-query pubkey@key.pub`). 200 with what was established; a package that does not verify "
        "is 409 audit-broken. Stateless: the database is not read. Any role."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={415: {"description": "The body is not a zip archive."}, **_BROKEN_RESPONSE},
)
async def verify_export(
    request: Request,
    principal: CurrentPrincipal,
    pubkey: Annotated[
        str | None, Query(description="The public key (PEM) the package's checkpoint must be signed with.")
    ] = None,
) -> dict[str, Any]:
    """Check an uploaded package: the body is spooled to a temporary file (bounded), unpacked and verified."""
    del principal
    with tempfile.NamedTemporaryFile(prefix="beslut-upload-", suffix=".zip") as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_ARCHIVE:
                raise InvalidInput(f"the archive is larger than {MAX_ARCHIVE // 1024 // 1024} MB")
            spool.write(chunk)
        spool.flush()
        if size == 0:
            raise InvalidInput("the request body is empty: send the package's zip archive")
        return await run_in_threadpool(_verify_archive, Path(spool.name), pubkey)


__all__ = ["NO_KEY", "router", "signed_checkpoint", "unpack", "verify_answer"]
