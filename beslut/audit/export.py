"""An archive package of one recommendation, after E-ARK CSIP / FGS Paketstruktur where sensible; its offline check.

Layout (the package root is the output directory; docs/auditor.md explains each file and
where this deviates from CSIP 2.1 / SIP 2.1)::

    METS.xml                                  the package manifest: every file below with size and SHA-256
    metadata/preservation/premis.xml          PREMIS 3.0: fixity of each file, the digest event, the software
    metadata/other/checkpoint.json            the signed checkpoint (when one was given)
    metadata/other/inclusion-proofs.json      an RFC 6962 audit path per event the checkpoint covers
    representations/rep1/METS.xml             the representation's manifest
    representations/rep1/data/events.jsonl    the recommendation's audit events, one JSON object per line
    representations/rep1/data/status.json     the recommendation replayed from those events (`status --json`)
    representations/rep1/data/erms.xml        the case as FGS Ärendehantering / CITS ERMS metadata (:mod:`.erms`)
    representations/rep1/data/case-report.html  timeline, decisions and allocation, for people
    schemas/                                  the METS, XLink and CSIP/SIP extension XSDs (beslut/audit/schemas/)
    documentation/verify-offline.md           how to check the package without the database

:func:`verify_package` checks, with no database: every file listed with the right size
and digest and no file unlisted; every event's hash recomputed from its content; the
stream gap-free from stream_seq 1 and replayed through the machines to the status in
``status.json`` and to the ERMS document in ``erms.xml``; and, with the public key, the
checkpoint's signature and every event's inclusion proof against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

from beslut.audit import checkpoint as cp
from beslut.audit.erms import compare, erms_document
from beslut.audit.merkle import inclusion_ranges, leaf_hash, verify_inclusion
from beslut.audit.proofs import Inclusion, record_from_object
from beslut.audit.report import case_report
from beslut.clock import STOCKHOLM
from beslut.errors import AuditVerificationFailed, InvalidInput
from beslut.states.audit_chain import AuditRecord, ChainChecker
from beslut.states.replay import Replayer
from beslut.states.views import case_status

METS_NS: Final = "http://www.loc.gov/METS/"
XLINK_NS: Final = "http://www.w3.org/1999/xlink"
CSIP_NS: Final = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
SIP_NS: Final = "https://DILCIS.eu/XML/METS/SIPExtensionMETS"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
PREMIS_NS: Final = "http://www.loc.gov/premis/v3"
SIP_PROFILE: Final = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
CONTENT_TYPE: Final = "beslut audit events (JSON Lines) with a case report"
PROOFS_FORMAT: Final = "beslut-inclusion-proofs/1"
_package: Final = __name__.partition(".")[0]  # "beslut", without importing the public facade
SOFTWARE_VERSION: Final = "0.1.0"
SOFTWARE: Final = f"{_package} {SOFTWARE_VERSION}"
MAX_EVENTS_LINE: Final = 10_000_000
MAX_LISTED_ENTRIES: Final = 10_000
"""Files all the manifests of a package may list together (one recommendation's package lists about 15)."""
MAX_MANIFESTS: Final = 16
"""METS documents a package may hold (a package has two: its own and its representation's)."""
REP: Final = "representations/rep1"
#: The XML schemas the package's METS documents use, shipped in its `schemas/` (beslut/audit/schemas/README.md).
SCHEMAS: Final = ("mets.xsd", "xlink.xsd", "DILCISExtensionMETS.xsd", "DILCISExtensionSIPMETS.xsd")
for _prefix, _uri in (("mets", METS_NS), ("xlink", XLINK_NS), ("csip", CSIP_NS), ("sip", SIP_NS), ("xsi", XSI_NS)):
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("premis", PREMIS_NS)

_MIME: Final = {
    ".jsonl": "application/x-ndjson",
    ".json": "application/json",
    ".html": "text/html",
    ".xml": "text/xml",
    ".xsd": "text/xml",
    ".md": "text/markdown",
}


def _m(tag: str) -> str:
    return f"{{{METS_NS}}}{tag}"


def _x(attr: str) -> str:
    return f"{{{XLINK_NS}}}{attr}"


def _c(attr: str) -> str:
    return f"{{{CSIP_NS}}}{attr}"


@dataclass(frozen=True)
class Exported:
    """What `audit export` wrote."""

    root: Path
    files: int
    events: int
    proven: int


# ---------------------------------------------------------------- writing


def write_package(
    out: Path,
    *,
    records: Sequence[AuditRecord],
    checkpoint: cp.Checkpoint | None,
    inclusions: Sequence[Inclusion],
    now: datetime,
) -> Exported:
    """Write the package of one recommendation (its events, in seq order) into the new or empty directory *out*.

    Raises:
        InvalidInput: *out* exists and is not an empty directory, or cannot be written.
        AuditVerificationFailed: the events do not replay (they were verified before; this is a second guard).
    """
    if not records:
        raise InvalidInput("the recommendation has no events to export")
    key = records[0].stream
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} exists and is not an empty directory: a package is never written over anything")
    replayer = Replayer(whole_log=True)
    for record in records:
        problem = replayer.feed(record)
        if problem is not None:
            raise AuditVerificationFailed(f"seq {record.seq}: {problem}")
    status = case_status(replayer.cases[key])
    created = now.astimezone(STOCKHOLM).isoformat(timespec="seconds")
    try:
        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {}
        files[f"{REP}/data/events.jsonl"] = "".join(
            json.dumps(r.as_dict(), ensure_ascii=False, sort_keys=True) + "\n" for r in records
        ).encode("utf-8")
        files[f"{REP}/data/status.json"] = (json.dumps(status, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        files[f"{REP}/data/erms.xml"] = _serialise(erms_document(status, records, SOFTWARE))
        note = _proof_note(checkpoint, inclusions, records)
        files[f"{REP}/data/case-report.html"] = case_report(status, records, note, created).encode("utf-8")
        data_files = [name for name in files if name.startswith(f"{REP}/data/")]
        files[f"{REP}/METS.xml"] = _rep_mets(key, data_files, files, created)
        if checkpoint is not None:
            files["metadata/other/checkpoint.json"] = checkpoint.to_text().encode("utf-8")
            files["metadata/other/inclusion-proofs.json"] = _proofs_file(checkpoint, inclusions, records)
        files["documentation/verify-offline.md"] = _verify_offline(key).encode("utf-8")
        files.update(_schemas())
        files["metadata/preservation/premis.xml"] = _premis(files, created)
        files["METS.xml"] = _package_mets(key, status, files, created)
        for name, data in files.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    except OSError as error:
        raise InvalidInput(f"cannot write the package to {out}: {error.strerror or error}") from None
    return Exported(root=out, files=len(files), events=len(records), proven=len(inclusions))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mime(name: str) -> str:
    return _MIME.get(PurePosixPath(name).suffix, "application/octet-stream")


def _file_element(parent: ET.Element, ident: str, href: str, data: bytes, created: str) -> None:
    element = ET.SubElement(
        parent,
        _m("file"),
        {
            "ID": ident,
            "MIMETYPE": _mime(href),
            "SIZE": str(len(data)),
            "CREATED": created,
            "CHECKSUM": _digest(data),
            "CHECKSUMTYPE": "SHA-256",
        },
    )
    ET.SubElement(element, _m("FLocat"), {"LOCTYPE": "URL", _x("type"): "simple", _x("href"): href})


def _header(root: ET.Element, created: str, issuer: str | None) -> None:
    dates = {"CREATEDATE": created, "LASTMODDATE": created}
    header = ET.SubElement(root, _m("metsHdr"), {**dates, _c("OAISPACKAGETYPE"): "SIP"})
    software = ET.SubElement(header, _m("agent"), {"ROLE": "CREATOR", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"})
    ET.SubElement(software, _m("name")).text = _package
    ET.SubElement(software, _m("note"), {_c("NOTETYPE"): "SOFTWARE VERSION"}).text = SOFTWARE_VERSION
    if issuer:
        submitter = ET.SubElement(header, _m("agent"), {"ROLE": "CREATOR", "TYPE": "ORGANIZATION"})
        ET.SubElement(submitter, _m("name")).text = issuer


def _mets_root(objid: str, label: str) -> ET.Element:
    return ET.Element(
        _m("mets"),
        {
            "OBJID": objid,
            "LABEL": label,
            "TYPE": "Datasets",
            "PROFILE": SIP_PROFILE,
            _c("CONTENTINFORMATIONTYPE"): "OTHER",
            _c("OTHERCONTENTINFORMATIONTYPE"): CONTENT_TYPE,
            f"{{{XSI_NS}}}schemaLocation": f"{METS_NS} http://www.loc.gov/standards/mets/mets.xsd",
        },
    )


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"


def _rep_mets(key: str, data_files: list[str], files: dict[str, bytes], created: str) -> bytes:
    root = _mets_root(f"{key}/rep1", f"{key}: audit events and case report")
    _header(root, created, None)
    file_sec = ET.SubElement(root, _m("fileSec"), {"ID": "fileSec-rep1"})
    group = ET.SubElement(file_sec, _m("fileGrp"), {"ID": "fileGrp-data", "USE": "Data"})
    for index, name in enumerate(data_files):
        _file_element(group, f"file-data-{index + 1}", name.removeprefix(f"{REP}/"), files[name], created)
    struct = ET.SubElement(root, _m("structMap"), {"ID": "structMap-rep1", "TYPE": "PHYSICAL", "LABEL": "CSIP"})
    top = ET.SubElement(struct, _m("div"), {"ID": "div-rep1", "LABEL": "rep1"})
    data = ET.SubElement(top, _m("div"), {"ID": "div-data", "LABEL": "Data"})
    ET.SubElement(data, _m("fptr"), {"FILEID": "fileGrp-data"})
    return _serialise(root)


def _package_mets(key: str, status: dict[str, Any], files: dict[str, bytes], created: str) -> bytes:
    root = _mets_root(key, str(status["title"]))
    _header(root, created, str(status["issuer"]))
    amd = ET.SubElement(root, _m("amdSec"), {"ID": "amdSec"})
    other = "metadata/other"
    metadata = [
        ("digiprov-premis", "metadata/preservation/premis.xml", {"MDTYPE": "PREMIS", "MDTYPEVERSION": "3.0"}),
        ("digiprov-checkpoint", f"{other}/checkpoint.json", {"MDTYPE": "OTHER", "OTHERMDTYPE": cp.FORMAT}),
        ("digiprov-proofs", f"{other}/inclusion-proofs.json", {"MDTYPE": "OTHER", "OTHERMDTYPE": PROOFS_FORMAT}),
    ]
    admids = []
    for ident, href, kind in metadata:
        if href not in files:
            continue
        admids.append(ident)
        section = ET.SubElement(amd, _m("digiprovMD"), {"ID": ident, "STATUS": "CURRENT"})
        data = files[href]
        ET.SubElement(
            section,
            _m("mdRef"),
            {
                "LOCTYPE": "URL",
                _x("type"): "simple",
                _x("href"): href,
                **kind,
                "MIMETYPE": _mime(href),
                "SIZE": str(len(data)),
                "CREATED": created,
                "CHECKSUM": _digest(data),
                "CHECKSUMTYPE": "SHA-256",
            },
        )
    file_sec = ET.SubElement(root, _m("fileSec"), {"ID": "fileSec"})
    documentation = ET.SubElement(file_sec, _m("fileGrp"), {"ID": "fileGrp-documentation", "USE": "Documentation"})
    _file_element(
        documentation,
        "file-doc-1",
        "documentation/verify-offline.md",
        files["documentation/verify-offline.md"],
        created,
    )
    schemas = ET.SubElement(file_sec, _m("fileGrp"), {"ID": "fileGrp-schemas", "USE": "Schemas"})
    for index, name in enumerate(sorted(n for n in files if n.startswith("schemas/"))):
        _file_element(schemas, f"file-schema-{index + 1}", name, files[name], created)
    representation = ET.SubElement(
        file_sec,
        _m("fileGrp"),
        {
            "ID": "fileGrp-rep1",
            "USE": "Representations/rep1",
            _c("CONTENTINFORMATIONTYPE"): "OTHER",
            _c("OTHERCONTENTINFORMATIONTYPE"): CONTENT_TYPE,
        },
    )
    _file_element(representation, "file-rep1-mets", f"{REP}/METS.xml", files[f"{REP}/METS.xml"], created)
    struct = ET.SubElement(root, _m("structMap"), {"ID": "structMap", "TYPE": "PHYSICAL", "LABEL": "CSIP"})
    top = ET.SubElement(struct, _m("div"), {"ID": f"div-{uuid.uuid5(uuid.NAMESPACE_URL, key)}", "LABEL": key})
    ET.SubElement(top, _m("div"), {"ID": "div-metadata", "LABEL": "Metadata", "ADMID": " ".join(admids)})
    doc_div = ET.SubElement(top, _m("div"), {"ID": "div-documentation", "LABEL": "Documentation"})
    ET.SubElement(doc_div, _m("fptr"), {"FILEID": "fileGrp-documentation"})
    schema_div = ET.SubElement(top, _m("div"), {"ID": "div-schemas", "LABEL": "Schemas"})
    ET.SubElement(schema_div, _m("fptr"), {"FILEID": "fileGrp-schemas"})
    rep_div = ET.SubElement(top, _m("div"), {"ID": "div-rep1", "LABEL": "Representations/rep1"})
    ET.SubElement(
        rep_div,
        _m("mptr"),
        {"LOCTYPE": "URL", _x("type"): "simple", _x("href"): f"{REP}/METS.xml", _x("title"): "fileGrp-rep1"},
    )
    return _serialise(root)


def _schemas() -> dict[str, bytes]:
    """The shipped XSDs by their path in the package: CSIP113 asks for the schemas used (CSIP66: no empty group)."""
    folder = resources.files("beslut.audit").joinpath("schemas")
    return {f"schemas/{name}": folder.joinpath(name).read_bytes() for name in SCHEMAS}


def _premis(files: dict[str, bytes], created: str) -> bytes:
    p = PREMIS_NS
    root = ET.Element(f"{{{p}}}premis", {"version": "3.0"})
    for name in sorted(files):
        obj = ET.SubElement(root, f"{{{p}}}object", {f"{{{XSI_NS}}}type": "premis:file"})
        identifier = ET.SubElement(obj, f"{{{p}}}objectIdentifier")
        ET.SubElement(identifier, f"{{{p}}}objectIdentifierType").text = "local"
        ET.SubElement(identifier, f"{{{p}}}objectIdentifierValue").text = name
        characteristics = ET.SubElement(obj, f"{{{p}}}objectCharacteristics")
        fixity = ET.SubElement(characteristics, f"{{{p}}}fixity")
        ET.SubElement(fixity, f"{{{p}}}messageDigestAlgorithm").text = "SHA-256"
        ET.SubElement(fixity, f"{{{p}}}messageDigest").text = _digest(files[name])
        ET.SubElement(characteristics, f"{{{p}}}size").text = str(len(files[name]))
        file_format = ET.SubElement(characteristics, f"{{{p}}}format")
        designation = ET.SubElement(file_format, f"{{{p}}}formatDesignation")
        ET.SubElement(designation, f"{{{p}}}formatName").text = _mime(name)
    event = ET.SubElement(root, f"{{{p}}}event")
    event_id = ET.SubElement(event, f"{{{p}}}eventIdentifier")
    ET.SubElement(event_id, f"{{{p}}}eventIdentifierType").text = "local"
    ET.SubElement(event_id, f"{{{p}}}eventIdentifierValue").text = "event-digest-1"
    ET.SubElement(event, f"{{{p}}}eventType").text = "message digest calculation"
    ET.SubElement(event, f"{{{p}}}eventDateTime").text = created
    outcome = ET.SubElement(event, f"{{{p}}}eventOutcomeInformation")
    ET.SubElement(outcome, f"{{{p}}}eventOutcome").text = "success"
    agent_link = ET.SubElement(event, f"{{{p}}}linkingAgentIdentifier")
    ET.SubElement(agent_link, f"{{{p}}}linkingAgentIdentifierType").text = "local"
    ET.SubElement(agent_link, f"{{{p}}}linkingAgentIdentifierValue").text = "agent-beslut"
    agent = ET.SubElement(root, f"{{{p}}}agent")
    agent_id = ET.SubElement(agent, f"{{{p}}}agentIdentifier")
    ET.SubElement(agent_id, f"{{{p}}}agentIdentifierType").text = "local"
    ET.SubElement(agent_id, f"{{{p}}}agentIdentifierValue").text = "agent-beslut"
    ET.SubElement(agent, f"{{{p}}}agentName").text = f"{_package} {SOFTWARE_VERSION}"
    ET.SubElement(agent, f"{{{p}}}agentType").text = "software"
    return _serialise(root)


def _proofs_file(checkpoint: cp.Checkpoint, inclusions: Sequence[Inclusion], records: Sequence[AuditRecord]) -> bytes:
    proven = {i.record.seq for i in inclusions}
    document = {
        "format": PROOFS_FORMAT,
        "tree_size": checkpoint.tree_size,
        "root": checkpoint.root,
        "proofs": [
            {"seq": i.record.seq, "leaf_index": i.record.seq - 1, "audit_path": [h.hex() for h in i.path]}
            for i in inclusions
        ],
        "not_covered": [r.seq for r in records if r.seq not in proven],
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _proof_note(
    checkpoint: cp.Checkpoint | None, inclusions: Sequence[Inclusion], records: Sequence[AuditRecord]
) -> str:
    if checkpoint is None:
        return (
            "No checkpoint was given when this package was made: the events' hashes can be recomputed, but nothing "
            "here proves they are the ones in the log. Export again with --checkpoint for inclusion proofs."
        )
    later = len(records) - len(inclusions)
    text = (
        f"{len(inclusions)} of the {len(records)} events are proven, each by an RFC 6962 inclusion proof, to be in "
        f"the log whose first {checkpoint.tree_size} events were signed on {checkpoint.created_at} by key "
        f"{checkpoint.key_id} (metadata/other/checkpoint.json)."
    )
    if later:
        text += f" {later} event(s) were recorded after that checkpoint and are not covered by it."
    return text


def _verify_offline(key: str) -> str:
    return f"""# Verifying this package offline

This package holds the audit events of recommendation `{key}` as recorded by `beslut`.
Every file is listed, with its size and SHA-256 digest, in `METS.xml` (the package) and
`representations/rep1/METS.xml` (the events and the case report).

With `beslut` installed, and the public key of the checkpoint's signer (obtained from its
owner, not from this package):

    beslut audit verify-export PATH/TO/THIS/DIRECTORY --pubkey signer.pub

checks without any database:

1. every file listed in the manifests has the size and SHA-256 digest listed, and no other file is here;
2. every event in `representations/rep1/data/events.jsonl` hashes to its `hash` (the hash is
   SHA-256 of the RFC 8785 canonical JSON of seq, stream, stream_seq, recorded_at, valid_on,
   kind, payload and prev_hash), the events are the recommendation's stream from stream_seq 1
   without a gap, and replaying them through the state machines gives `status.json` and the
   case metadata in `erms.xml` (FGS Ärendehantering / CITS ERMS style);
3. the checkpoint in `metadata/other/checkpoint.json` is signed by that key (Ed25519 over its
   RFC 8785 canonical JSON without the signature), and each event's audit path in
   `metadata/other/inclusion-proofs.json` leads from SHA-256(0x00 || the event hash's 32 bytes)
   to the checkpoint's Merkle root (RFC 6962 / RFC 9162).

Without `beslut`, step 1 needs only `sha256sum`; steps 2 and 3 are small programs following the
two RFCs named above.
"""


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class PackageReport:
    """What :func:`verify_package` established."""

    key: str
    files: int
    events: int
    proven: int
    tree_size: int | None
    signature_checked: bool
    erms: bool = False  # the package has an erms.xml (packages made before it was added have none)

    def describe(self) -> str:
        """One line for people."""
        text = (
            f"ok: package of {self.key}: {self.files} files match the manifests; {self.events} events hash as "
            f"recorded, gap-free and legal, replaying to status.json{' and erms.xml' if self.erms else ''}"
        )
        if self.tree_size is None:
            return text + "; no checkpoint in the package"
        if not self.signature_checked:
            return text + "; the checkpoint's signature was NOT checked (give --pubkey) and nothing is proven"
        return text + f"; {self.proven} events proven in the log signed at seq 1..{self.tree_size}"


def verify_package(root: Path, public_key: Ed25519PublicKey | None) -> PackageReport:
    """Check a package offline; see the module docstring.

    Raises:
        InvalidInput: *root* is not a directory, or the package asks for more work than a package needs (a
            manifest listing a file twice, more than MAX_LISTED_ENTRIES files or MAX_MANIFESTS manifests).
        AuditVerificationFailed: anything about the package that does not hold (names the file and what).
    """
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory")
    listed = _check_manifests(root)
    events = _read_events(root / REP / "data" / "events.jsonl")
    key = _check_stream(events)
    status = _check_status(root / REP / "data" / "status.json", events, key)
    erms = _check_erms(root / REP / "data" / "erms.xml", status, events)
    tree_size: int | None = None
    proven = 0
    checkpoint_path = root / "metadata" / "other" / "checkpoint.json"
    if checkpoint_path.exists():
        try:
            checkpoint = cp.load(checkpoint_path)
        except InvalidInput as error:
            raise AuditVerificationFailed(str(error)) from None
        tree_size = checkpoint.tree_size
        if public_key is not None:
            cp.check_signature(checkpoint, public_key, "metadata/other/checkpoint.json")
            proven = _check_proofs(root / "metadata" / "other" / "inclusion-proofs.json", checkpoint, events)
    return PackageReport(key, listed, len(events), proven, tree_size, public_key is not None, erms)


def _fail(message: str) -> AuditVerificationFailed:
    return AuditVerificationFailed(f"the package does not verify: {message}")


def _parse_xml(path: Path, data: bytes | None = None) -> ET.Element:
    """Parse one XML file of the package (its bytes when already read), refusing any DTD or entity.

    ``defusedxml`` with ``forbid_dtd``: the parser itself refuses a DOCTYPE, whatever the
    document's encoding (a byte search for ``<!DOCTYPE`` misses a UTF-16 document), so no
    entity is ever expanded and no external resource is ever fetched.
    """
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise _fail(f"cannot read {path.name}: {error.strerror or error}") from None
    try:
        parsed: ET.Element = DefusedET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _fail(f"{path.name} declares a DTD or entities, which a package never does") from None
    except ET.ParseError as error:
        raise _fail(f"{path.name} is not well-formed XML: {error}") from None
    return parsed


def _safe(root: Path, base: PurePosixPath, href: str, where: str) -> Path:
    relative = PurePosixPath(href)
    if relative.is_absolute() or ".." in relative.parts or "\\" in href or not href:
        raise _fail(f"{where} lists {href!r}, which is not a relative path inside the package")
    return root.joinpath(*(base / relative).parts)


@dataclass
class _Read:
    """The files of a package read so far: each file is read (and a METS parsed) at most once."""

    digests: dict[Path, tuple[int, str]]
    entries: int = 0
    manifests: int = 1


def _check_entry(
    root: Path, base: PurePosixPath, entry: tuple[str, str | None, str | None], where: str, read: _Read
) -> tuple[Path, bytes | None]:
    """Check one listed file against its size and digest; its bytes when read now, None when read before."""
    href, size, digest = entry
    path = _safe(root, base, href, where)
    name = (base / href).as_posix()
    known = read.digests.get(path)
    data: bytes | None = None
    if known is None:
        if path.is_symlink():
            raise _fail(f"{name} is a symbolic link: a package holds only plain files")
        if not path.is_file():
            raise _fail(f"{name} is listed in {where} but missing")
        data = path.read_bytes()
        known = (len(data), _digest(data))
        read.digests[path] = known
    if size is None or digest is None or str(known[0]) != size:
        raise _fail(f"{name} is {known[0]} bytes, but {where} lists {size}")
    if known[1] != digest.lower():
        raise _fail(f"{name} does not have the SHA-256 digest {where} lists: it was altered")
    return path, data


def _entries(element: ET.Element) -> list[tuple[str, str | None, str | None, str | None]]:
    """(href, SIZE, CHECKSUM, CHECKSUMTYPE) of every file and mdRef in a METS document."""
    out = []
    for file_element in element.iter(_m("file")):
        location = file_element.find(_m("FLocat"))
        href = location.get(_x("href")) if location is not None else None
        if href is None:
            raise _fail(f"file {file_element.get('ID')!r} has no FLocat")
        out.append((href, file_element.get("SIZE"), file_element.get("CHECKSUM"), file_element.get("CHECKSUMTYPE")))
    for reference in element.iter(_m("mdRef")):
        href = reference.get(_x("href"))
        if href is None:
            raise _fail("an mdRef has no xlink:href")
        out.append((href, reference.get("SIZE"), reference.get("CHECKSUM"), reference.get("CHECKSUMTYPE")))
    return out


def _count_work(read: _Read, listed: int, where: str) -> None:
    """Refuse, before reading on, a package whose manifests list more than a package ever holds.

    Why a cap as well as reading each file once: a package from outside is an attacker's
    input, and the work it asks for must be bounded by the constants below, not by the
    package (docs/auditor.md, "Limits").
    """
    read.entries += listed
    if read.entries > MAX_LISTED_ENTRIES:
        raise InvalidInput(
            f"the package's manifests list more than {MAX_LISTED_ENTRIES} files (at {where}): refused unread"
        )
    if read.manifests > MAX_MANIFESTS:
        raise InvalidInput(f"the package has more than {MAX_MANIFESTS} METS manifests (at {where}): refused unread")


def _check_manifests(root: Path) -> int:
    package = _parse_xml(root / "METS.xml")
    if package.tag != _m("mets"):
        raise _fail("METS.xml is not a METS document")
    read = _Read(digests={})
    seen: set[Path] = {root / "METS.xml"}
    pending = [(PurePosixPath("."), package, "METS.xml")]
    while pending:
        base, document, where = pending.pop()
        entries = _entries(document)
        _count_work(read, len(entries), where)
        hrefs = [href for href, *_ in entries]
        if len(set(hrefs)) != len(hrefs):
            twice = next(h for h in hrefs if hrefs.count(h) > 1)
            raise InvalidInput(f"{where} lists {twice[:80]!r} more than once: a manifest lists each file once")
        for href, size, digest, kind in entries:
            if kind != "SHA-256":
                raise _fail(f"{where} lists {href} with checksum type {kind!r}, not SHA-256")
            path, data = _check_entry(root, base, (href, size, digest), where, read)
            seen.add(path)
            if data is not None and path.name == "METS.xml" and path != root / "METS.xml":
                read.manifests += 1  # a manifest is parsed once, when its file is first read
                _count_work(read, 0, href)
                pending.append((PurePosixPath(os.path.relpath(path.parent, root)), _parse_xml(path, data), href))
    present = {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(str(p.relative_to(root)) for p in present - seen)
    if extra:
        raise _fail(f"{extra[0]} is in the package but in no manifest")
    if (root / REP / "data" / "events.jsonl") not in seen:
        raise _fail(f"{REP}/data/events.jsonl is not in the manifests")
    return len(seen)


def _read_events(path: Path) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"events.jsonl line {number}"
            if len(line) > MAX_EVENTS_LINE:
                raise _fail(f"{where} is too long")
            try:
                record = record_from_object(cp.strict_json(line, where), where)
            except InvalidInput as error:
                raise _fail(str(error)) from None
            records.append(record)
    if not records:
        raise _fail("events.jsonl holds no events")
    return records


def _check_stream(records: list[AuditRecord]) -> str:
    """One stream's events in seq order, each canonical, its content's hash, its stream_seq the next.

    Those are the one chain check's content checks (:meth:`ChainChecker.check_content`); the links between
    the events are the log's, not the package's (it holds one stream).
    """
    key = records[0].stream
    chain = ChainChecker()
    previous = 0
    for record in records:
        if record.stream != key:
            raise _fail(f"seq {record.seq} is of {record.stream!r}, not of {key!r}")
        if record.seq <= previous:
            raise _fail(f"seq {record.seq} comes after seq {previous}")
        problem, _ = chain.check_content(record)
        if problem == "hash does not match the event's content":
            raise _fail(f"seq {record.seq}: its content does not give its hash: the event was altered")
        if problem is not None:
            raise _fail(f"seq {record.seq}: {problem}")
        chain.accept(record)
        previous = record.seq
    return key


def _check_status(path: Path, records: list[AuditRecord], key: str) -> dict[str, Any]:
    replayer = Replayer(whole_log=True)
    for record in records:
        problem = replayer.feed(record)
        if problem is not None:
            raise _fail(f"seq {record.seq}: {problem}")
    try:
        shown = cp.strict_json(path.read_bytes(), "status.json")
    except (OSError, InvalidInput) as error:
        raise _fail(f"status.json: {error}") from None
    status = case_status(replayer.cases[key])
    if shown != status:
        raise _fail("status.json is not what the events replay to")
    return status


def _check_erms(path: Path, status: dict[str, Any], records: list[AuditRecord]) -> bool:
    """erms.xml, when the package has one (it is in a manifest then), must be what the events give."""
    if not path.exists():
        return False
    found = _parse_xml(path)
    difference = compare(erms_document(status, records, SOFTWARE), found)
    if difference is not None:
        raise _fail(f"erms.xml is not what the events replay to: {difference}")
    return True


def _check_proofs(path: Path, checkpoint: cp.Checkpoint, records: list[AuditRecord]) -> int:
    try:
        document = cp.strict_json(path.read_bytes(), "inclusion-proofs.json")
    except (OSError, InvalidInput) as error:
        raise _fail(f"inclusion-proofs.json: {error}") from None
    if not isinstance(document, dict) or document.get("format") != PROOFS_FORMAT:
        raise _fail(f"inclusion-proofs.json is not a {PROOFS_FORMAT} document")
    proofs = document.get("proofs")
    if not isinstance(proofs, list):
        raise _fail("inclusion-proofs.json has no list of proofs")
    by_seq = {p.get("seq"): p for p in proofs if isinstance(p, dict)}
    root = bytes.fromhex(checkpoint.root)
    proven = 0
    for record in records:
        if record.seq > checkpoint.tree_size:
            continue
        proof = by_seq.get(record.seq)
        if proof is None:
            raise _fail(f"seq {record.seq} is covered by the checkpoint but has no inclusion proof")
        path_hex = proof.get("audit_path")
        if (
            not isinstance(path_hex, list)
            or len(path_hex) != len(inclusion_ranges(record.seq - 1, checkpoint.tree_size))
            or not all(isinstance(h, str) and len(h) == 64 for h in path_hex)
        ):
            raise _fail(f"the inclusion proof of seq {record.seq} is malformed")
        try:
            audit_path = [bytes.fromhex(h) for h in path_hex]
        except ValueError:
            raise _fail(f"the inclusion proof of seq {record.seq} is malformed") from None
        leaf = leaf_hash(bytes.fromhex(record.hash))
        if not verify_inclusion(record.seq - 1, checkpoint.tree_size, leaf, audit_path, root):
            raise _fail(
                f"seq {record.seq} is not proven in the checkpoint's log: its audit path does not lead to the root"
            )
        proven += 1
    return proven
