"""`audit export` and `audit verify-export`: the archive package of one recommendation, checked offline.

The package is checked without any database; every change to it is refused with exit 4
naming the file, even when the attacker also rewrites the manifests' digests (then the
event hashes, the replay or the proofs give it away).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from beslut.clock import FixedClock
from beslut.workflow import Engine
from tests.audit.conftest import at
from tests.audit.eark import documented_eark_messages, eark_messages
from tests.cli.helpers import KEY, PARTIES, SPEC_2022, SPEC_2025, Result, ok, refused, run, tamper_audit

METS = "{http://www.loc.gov/METS/}"
XLINK = "{http://www.w3.org/1999/xlink}"
REP = "representations/rep1"
Keys = tuple[Path, Path]


@pytest.fixture
def decided(mini_maria: tuple[str, Engine, FixedClock]) -> str:
    """The 2022 case, all parties approved, consolidated and in force, and the 2025 revision proposed."""
    db, engine, clock = mini_maria
    engine.propose(SPEC_2022.read_text(encoding="utf-8"), on=at(clock, "2022-06-03"))
    engine.recommend(KEY, on=at(clock, "2022-06-03"))
    for party in PARTIES:
        engine.decide(KEY, party, outcome="approved", paragraph="§ 7", on=at(clock, "2022-09-05"))
    engine.announce(KEY, "2380", on=at(clock, "2022-09-08"))
    engine.consolidate(KEY, on=at(clock, "2023-01-10"))
    engine.propose(SPEC_2025.read_text(encoding="utf-8"), on=at(clock, "2025-03-07"))
    return db


def export(db: str, key_pair: Keys, tmp_path: Path, name: str = "pkg") -> Path:
    ok("audit", "checkpoint", "--key", str(key_pair[0]), "--out", "c.json", db=db)
    result = ok("audit", "export", KEY, "--out", name, "--checkpoint", "c.json", "--pubkey", str(key_pair[1]), db=db)
    assert f"{KEY}: 14 events, 14 proven against the checkpoint" in result.stdout
    return tmp_path / name


def offline(*args: str, code: int) -> Result:
    result = run(*args, db=None)
    assert code == result.code, result
    assert 1 == len(result.error_lines), result.stderr
    assert "" == result.stdout
    return result


def restamp(package: Path, relative: str) -> None:
    """Rewrite the digests of *relative* in its manifest, and of that manifest in the package's: a thorough forger."""
    data = (package / relative).read_bytes()
    manifest = package / REP / "METS.xml" if relative.startswith(f"{REP}/data/") else package / "METS.xml"
    href = relative.removeprefix(f"{REP}/") if manifest.parent != package else relative
    tree = ET.parse(manifest)
    for element in [*tree.iter(f"{METS}file"), *tree.iter(f"{METS}mdRef")]:
        location = element.find(f"{METS}FLocat")
        target = location.get(f"{XLINK}href") if location is not None else element.get(f"{XLINK}href")
        if target == href:
            element.set("CHECKSUM", hashlib.sha256(data).hexdigest())
            element.set("SIZE", str(len(data)))
    tree.write(manifest, encoding="utf-8", xml_declaration=True)
    if manifest.parent != package:
        restamp(package, f"{REP}/METS.xml")


def test_export_writes_a_csip_shaped_package_that_verifies_offline(
    decided: str, key_pair: Keys, tmp_path: Path
) -> None:
    package = export(decided, key_pair, tmp_path)
    names = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert [
        "METS.xml",
        "documentation/verify-offline.md",
        "metadata/other/checkpoint.json",
        "metadata/other/inclusion-proofs.json",
        "metadata/preservation/premis.xml",
        f"{REP}/METS.xml",
        f"{REP}/data/case-report.html",
        f"{REP}/data/erms.xml",
        f"{REP}/data/events.jsonl",
        f"{REP}/data/status.json",
        "schemas/DILCISExtensionMETS.xsd",
        "schemas/DILCISExtensionSIPMETS.xsd",
        "schemas/mets.xsd",
        "schemas/xlink.xsd",
    ] == names
    root = ET.parse(package / "METS.xml").getroot()
    assert (KEY, "Datasets") == (root.get("OBJID"), root.get("TYPE"))
    [struct] = root.iter(f"{METS}structMap")
    assert ("PHYSICAL", "CSIP") == (struct.get("TYPE"), struct.get("LABEL"))
    labels = [div.get("LABEL") for div in struct.iter(f"{METS}div")]
    assert ["Metadata", "Documentation", "Schemas", "Representations/rep1"] == labels[1:]
    events = [json.loads(line) for line in (package / REP / "data/events.jsonl").read_text().splitlines()]
    assert [e["stream_seq"] for e in events] == list(range(1, 15))
    assert ok("status", KEY, "--json", db=decided).json() == json.loads(
        (package / REP / "data/status.json").read_text()
    )
    html = (package / REP / "data/case-report.html").read_text()
    for text in ("Timeline", "Decisions", "Allocation of the cost", "1236026", "Östersunds kommun", "in_force"):
        assert text in html
    result = ok("audit", "verify-export", "pkg", "--pubkey", str(key_pair[1]), db=None)
    assert "14 events proven in the log signed at seq 1..15" in result.stdout
    assert "replaying to status.json and erms.xml" in result.stdout
    unchecked = ok("audit", "verify-export", "pkg", db=None).stdout
    assert "NOT checked" in unchecked


def test_export_passes_the_eark_validator_but_for_its_documented_conflicts(
    decided: str, key_pair: Keys, tmp_path: Path
) -> None:
    """eark-validator (CSIP/SIP 2.1, vocabularies from its own wheel, offline) on an exported package.

    The schema check passes, no message names a rule the package breaks, and each message left
    (rule and severity) is in docs/auditor.md's table of the validator's conflicts, and nothing more.
    """
    package = export(decided, key_pair, tmp_path)
    report = eark_messages(package)
    assert report.schema_valid
    assert set() == {m for m in report.messages if m[0] in {"CSIP66", "CSIP113", "CSIP99", "CSIP8", "CSIP34"}}
    assert documented_eark_messages() == set(report.messages)


ERMS = "{https://DILCIS.eu/XML/ERMS}"


def test_the_erms_document_describes_the_case(decided: str, key_pair: Keys, tmp_path: Path) -> None:
    """erms.xml is well-formed, listed with its SHA-256 in the representation's METS, and says what the case is."""
    package = export(decided, key_pair, tmp_path)
    data = (package / REP / "data/erms.xml").read_bytes()
    [listed] = [
        f for f in ET.parse(package / REP / "METS.xml").getroot().iter(f"{METS}file")
        if f.find(f"{METS}FLocat").get(f"{XLINK}href") == "data/erms.xml"  # type: ignore[union-attr]
    ]  # fmt: skip
    assert (listed.get("CHECKSUM"), listed.get("SIZE")) == (hashlib.sha256(data).hexdigest(), str(len(data)))
    assert listed.get("MIMETYPE") == "text/xml"
    root = ET.fromstring(data)
    assert root.tag == f"{ERMS}erms"
    status = ok("status", KEY, "--json", db=decided).json()
    [case] = root.iter(f"{ERMS}aggregation")
    assert case.get("aggregationType") == "caseFile"
    assert case.findtext(f"{ERMS}objectId") == KEY
    assert case.findtext(f"{ERMS}title") == status["title"] == "Mini-Maria Jämtland: inriktningsbeslut och finansiering"
    assert case.find(f"{ERMS}status").get("value") == "expedited"  # type: ignore[union-attr]  # in force
    agents = case.find(f"{ERMS}agents")
    assert agents is not None
    parties = {
        a.findtext(f"{ERMS}idNumber"): a.findtext(f"{ERMS}name")
        for a in agents.iter(f"{ERMS}agent")
        if a.get("agentType") == "counterpart"
    }
    assert parties == {p["key"]: p["name"] for p in status["parties"]}
    assert set(parties) == set(PARTIES)
    dates = {d.get("dateType"): d.text for d in case.iter(f"{ERMS}date")}
    assert dates == {
        "created": "2022-06-03T00:00:00+02:00",
        "decision_deadline": "2022-09-30T00:00:00+02:00",
        "decision": "2023-01-10T00:00:00+01:00",
    }
    decisions: dict[str, dict[str, str | None]] = {}
    for action in case.iter(f"{ERMS}action"):
        by = action.find(f"{ERMS}agents")
        if by is None:
            continue
        party = by.find(f"{ERMS}agent")
        assert party is not None
        decisions[party.findtext(f"{ERMS}idNumber") or ""] = {
            "outcome": action.findtext(f"{ERMS}actionType"),
            **{d.get("otherDateType") or d.get("dateType") or "": d.text for d in action.iter(f"{ERMS}actionDate")},
        }
    assert set(decisions) == set(PARTIES)
    for party in status["parties"]:
        assert decisions[party["key"]]["outcome"] == party["outcome"] == "approved"
        assert decisions[party["key"]]["decision_date"] == "2022-09-05T00:00:00+02:00"
    assert decisions["2380"]["announced (anslag, KL 8:12)"] == "2022-09-08T00:00:00+02:00"
    assert "announced (anslag, KL 8:12)" not in decisions["2309"]
    steps = [a.findtext(f"{ERMS}actionType") for a in case.iter(f"{ERMS}action") if a.find(f"{ERMS}agents") is None]
    assert steps == ["recommended", "consolidated", "in_force"]
    assert "@" not in data.decode("utf-8")  # no e-mail addresses, no people: parties are organisations


def test_export_without_a_checkpoint(decided: str, tmp_path: Path) -> None:
    ok("audit", "export", KEY, "--out", "plain", db=decided)
    assert not (tmp_path / "plain/metadata/other").exists()
    assert "no checkpoint in the package" in ok("audit", "verify-export", "plain", db=None).stdout
    assert "No checkpoint was given" in (tmp_path / "plain" / REP / "data/case-report.html").read_text()


def test_export_shows_the_recount_after_an_annulment(
    mini_maria: tuple[str, Engine, FixedClock], decided: str, key_pair: Keys, tmp_path: Path
) -> None:
    _, engine, clock = mini_maria
    engine.appeal(KEY, "2380", on=at(clock, "2022-09-20"))
    engine.settle(KEY, "2380", result="annulled", on=at(clock, "2025-04-01"))
    ok("audit", "checkpoint", "--key", str(key_pair[0]), "--out", "c.json", db=decided)
    ok("audit", "export", KEY, "--out", "pkg", "--checkpoint", "c.json", "--pubkey", str(key_pair[1]), db=decided)
    package = tmp_path / "pkg" / REP / "data"
    kinds = [json.loads(line)["kind"] for line in (package / "events.jsonl").read_text().splitlines()]
    assert ["party.decision_annulled", "recommendation.recounted"] == kinds[-2:]
    exported = json.loads((package / "status.json").read_text())
    assert (["2380"], "not_adopted", "2025-04-01") == (
        exported["contested"],
        exported["outcome"],
        exported["recounted_on"],
    )
    report = (package / "case-report.html").read_text()
    assert "recommendation.recounted" in report
    assert "<th>Contested (decision annulled, not decided anew)</th><td>2380</td>" in report
    assert (
        "recounted 2025-04-01 after a changed counted decision; contested: 2380" in (package / "erms.xml").read_text()
    )
    assert (
        "replaying to status.json and erms.xml"
        in ok("audit", "verify-export", "pkg", "--pubkey", str(key_pair[1]), db=None).stdout
    )


def test_export_refusals(decided: str, key_pair: Keys, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert "is not an empty directory" in refused("audit", "export", KEY, "--out", "full", db=decided).stderr
    assert "no recommendation 'nope'" in refused("audit", "export", "nope", "--out", "o", db=decided).stderr
    tamper_audit(decided, seq=3)
    result = refused("audit", "export", KEY, "--out", "o", db=decided, code=4)
    assert "refusing to export: audit log broken at seq 3" in result.stderr
    assert not (tmp_path / "o").exists()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _flip_first_proof_hash(package: Path) -> None:
    path = package / "metadata/other/inclusion-proofs.json"
    document = json.loads(path.read_text())
    first = document["proofs"][0]["audit_path"][0]
    document["proofs"][0]["audit_path"][0] = ("1" if first[0] == "0" else "0") + first[1:]
    path.write_text(json.dumps(document, indent=2))


def _status_as_symlink(package: Path) -> None:
    status = package / REP / "data/status.json"
    status.unlink()
    status.symlink_to("/etc/hostname")


def _utf16_with_an_entity(package: Path) -> None:
    """The package's own METS.xml, unchanged but for an internal entity, in UTF-16 (no ASCII ``<!DOCTYPE`` bytes)."""
    text = (package / "METS.xml").read_text(encoding="utf-8")
    declaration, _, rest = text.partition("?>")
    assert declaration.startswith("<?xml")
    changed = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE mets:mets [<!ENTITY e "beslut">]>' + rest
    (package / "METS.xml").write_bytes(changed.replace("</mets:mets>", "<!-- &e; --></mets:mets>").encode("utf-16"))
    assert b"<!DOCTYPE" not in (package / "METS.xml").read_bytes()


TAMPERING: dict[str, tuple[Callable[[Path], object], bool, str]] = {
    "report_altered": (lambda p: _edit(p / REP / "data/case-report.html", "Östersunds kommun", "Östersunds kommuN"), False, "case-report.html does not have the SHA-256"),
    "event_altered": (lambda p: _edit(p / REP / "data/events.jsonl", '"§ 7"', '"§ 8"'), False, "events.jsonl does not have the SHA-256"),
    "event_altered_restamped": (lambda p: _edit(p / REP / "data/events.jsonl", '"§ 7"', '"§ 8"'), True, "the event was altered"),
    "event_dropped_restamped": (
        lambda p: (p / REP / "data/events.jsonl").write_text("".join((p / REP / "data/events.jsonl").read_text().splitlines(keepends=True)[:-1])),
        True, "status.json is not what the events replay to",
    ),
    "erms_altered": (lambda p: _edit(p / REP / "data/erms.xml", ">approved<", ">rejected<"), False, "erms.xml does not have the SHA-256"),
    "erms_altered_restamped": (
        lambda p: _edit(p / REP / "data/erms.xml", ">approved<", ">rejected<"), True,
        "erms.xml is not what the events replay to: /erms/aggregations/aggregation/action/actionType: 'rejected', expected 'approved'",
    ),
    "erms_element_added_restamped": (
        lambda p: _edit(p / REP / "data/erms.xml", "</aggregations>", "<aggregation/></aggregations>"), True,
        "erms.xml is not what the events replay to",
    ),
    "erms_not_xml_restamped": (lambda p: (p / REP / "data/erms.xml").write_text("<erms"), True, "erms.xml is not well-formed XML"),
    "erms_with_entities_restamped": (
        lambda p: (p / REP / "data/erms.xml").write_text('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), True, "declares a DTD",
    ),
    "status_altered_restamped": (lambda p: _edit(p / REP / "data/status.json", '"in_force"', '"withdrawn"'), True, "status.json is not what"),
    "proof_altered_restamped": (_flip_first_proof_hash, True, "is not proven in the checkpoint's log"),
    "checkpoint_altered_restamped": (
        lambda p: _edit(p / "metadata/other/checkpoint.json", '"created_at": "', '"created_at": "1'), True, "",
    ),
    "extra_file": (lambda p: (p / "documentation" / "notes.txt").write_text("hi"), False, "notes.txt is in the package but in no manifest"),
    "missing_file": (lambda p: (p / REP / "data/status.json").unlink(), False, "status.json is listed in"),
    "manifest_not_xml": (lambda p: (p / "METS.xml").write_text("<mets"), False, "METS.xml is not well-formed XML"),
    "manifest_with_entities": (
        lambda p: (p / "METS.xml").write_text('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), False, "declares a DTD",
    ),
    "manifest_utf16_with_entities": (_utf16_with_an_entity, False, "METS.xml declares a DTD or entities"),
    "symlink": (_status_as_symlink, False, "is a symbolic link"),
    "path_outside": (lambda p: _edit(p / "METS.xml", 'xlink:href="documentation/verify-offline.md"', 'xlink:href="../../etc/passwd"'), False, "not a relative path inside the package"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_a_changed_package_does_not_verify(decided: str, key_pair: Keys, tmp_path: Path, name: str) -> None:
    change, thorough, says = TAMPERING[name]
    package = export(decided, key_pair, tmp_path)
    change(package)
    if thorough:
        for relative in (f"{REP}/data/events.jsonl", f"{REP}/data/status.json", f"{REP}/data/erms.xml",
                         "metadata/other/inclusion-proofs.json", "metadata/other/checkpoint.json"):  # fmt: skip
            restamp(package, relative)
    result = offline("audit", "verify-export", "pkg", "--pubkey", str(key_pair[1]), code=4)
    assert says in result.stderr, result.stderr


def test_a_package_checked_with_another_key_does_not_verify(
    decided: str, key_pair: Keys, other_key_pair: Keys, tmp_path: Path
) -> None:
    export(decided, key_pair, tmp_path)
    result = offline("audit", "verify-export", "pkg", "--pubkey", str(other_key_pair[1]), code=4)
    assert "was signed by key" in result.stderr


def test_verify_export_of_something_that_is_not_a_package(tmp_path: Path) -> None:
    assert "is not a directory" in offline("audit", "verify-export", "nowhere", code=2).stderr
    (tmp_path / "empty").mkdir()
    assert "cannot read METS.xml" in offline("audit", "verify-export", "empty", code=4).stderr


def test_a_copied_package_still_verifies(decided: str, key_pair: Keys, tmp_path: Path) -> None:
    """The package is position-independent: moved elsewhere, it verifies the same."""
    package = export(decided, key_pair, tmp_path)
    shutil.copytree(package, tmp_path / "archive" / "copy")
    ok("audit", "verify-export", str(tmp_path / "archive" / "copy"), "--pubkey", str(key_pair[1]), db=None)


# An absolute POSIX or Windows path, or a file: URL (any form): none belongs in a package that is moved between machines.
_ABSOLUTE = re.compile(r"file:|(?<![\w.:/-])/(?:tmp|home|root|work|var|usr|etc|opt|mnt|srv|private|Users)/|[A-Za-z]:\\")


def test_the_package_holds_no_absolute_path(decided: str, key_pair: Keys, tmp_path: Path) -> None:
    """Every file of the package, as text: no path of the machine that wrote it, no href that is not relative.

    The export is given absolute paths on purpose (--out, --checkpoint, --pubkey, the SQLite file), so a
    package that copied any of them in would show it here.
    """
    checkpoint = tmp_path / "cp" / "c.json"
    checkpoint.parent.mkdir()
    ok("audit", "checkpoint", "--key", str(key_pair[0].resolve()), "--out", str(checkpoint), db=decided)
    out = (tmp_path / "out" / "pkg").resolve()
    pubkey = str(key_pair[1].resolve())
    ok("audit", "export", KEY, "--out", str(out), "--checkpoint", str(checkpoint), "--pubkey", pubkey, db=decided)
    machine = {str(tmp_path), str(tmp_path.resolve()), str(out), str(checkpoint), pubkey, str(Path.home())}
    if "://" not in decided:
        machine.add(str(Path(decided).resolve()))
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) >= 8, files
    hrefs: list[str] = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        where = path.relative_to(out).as_posix()
        for value in machine:
            assert value not in text, f"{where} holds {value}"
        found = _ABSOLUTE.search(text)
        assert found is None, f"{where}: {text[max(0, found.start() - 60) : found.end() + 60]!r}"
        if path.suffix == ".xml":
            for element in ET.fromstring(path.read_bytes()).iter():
                hrefs.extend(v for k, v in element.attrib.items() if k == f"{XLINK}href" or k.endswith("href"))
            hrefs.extend(re.findall(r'href="([^"]*)"', text))
        elif path.suffix == ".html":
            hrefs.extend(re.findall(r'(?:href|src)="([^"]*)"', text))
    assert hrefs, "no href found: the test would prove nothing"
    for href in hrefs:
        assert not href.startswith(("/", "\\")), href
        assert ":" not in href.split("/")[0] or href.startswith("#"), href  # no scheme (file:, http:), no drive
        assert ".." not in href.split("/"), href


# ---------------------------------------------------------------- a package from outside: the work it may ask for


def _mets(entries: list[tuple[str, bytes]]) -> bytes:
    """A METS document listing each (href, content) with its size and SHA-256 (hrefs may repeat)."""
    files = "".join(
        f'<mets:file ID="f{n}" SIZE="{len(data)}" CHECKSUM="{hashlib.sha256(data).hexdigest()}" '
        f'CHECKSUMTYPE="SHA-256"><mets:FLocat xlink:href="{href}"/></mets:file>'
        for n, (href, data) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><mets:mets xmlns:mets="http://www.loc.gov/METS/" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink"><mets:fileSec><mets:fileGrp>{files}'
        "</mets:fileGrp></mets:fileSec></mets:mets>"
    ).encode()


def fan_out(root: Path, *, width: int, depth: int) -> Path:
    """The issue's package: each METS lists ``a/METS.xml`` *width* times, *depth* levels deep (a few kB in all).

    Followed without remembering what was read, it asks for width**depth parses.
    """
    inner = _mets([])
    for level in range(depth, 0, -1):
        path = root.joinpath(*["a"] * level, "METS.xml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(inner)
        inner = _mets([("a/METS.xml", inner)] * width)
    (root / "METS.xml").write_bytes(inner)
    return root


def test_a_fanned_out_package_is_refused_at_once(tmp_path: Path) -> None:
    """A manifest listing one METS many times is refused (exit 2, one line) before anything it lists is read."""
    fan_out(tmp_path / "fan", width=40, depth=3)
    result = offline("audit", "verify-export", "fan", code=2)
    assert "METS.xml lists 'a/METS.xml' more than once: a manifest lists each file once" in result.stderr


def test_a_file_listed_by_two_manifests_is_read_once(tmp_path: Path) -> None:
    """Two manifests may list the same file (the package's and a representation's); it is checked, not re-read."""
    root = tmp_path / "twice"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.txt").write_bytes(b"x")
    (root / "a" / "METS.xml").write_bytes(_mets([("x.txt", b"x")]))
    (root / "METS.xml").write_bytes(_mets([("a/METS.xml", _mets([("x.txt", b"x")])), ("a/x.txt", b"x")]))
    result = offline("audit", "verify-export", "twice", code=4)  # it is no package, but its manifests hold
    assert "representations/rep1/data/events.jsonl is not in the manifests" in result.stderr


def test_too_many_listed_files_are_refused_unread(tmp_path: Path) -> None:
    """More files than a package ever lists: refused before looking for a single one of them."""
    (tmp_path / "many").mkdir()
    (tmp_path / "many" / "METS.xml").write_bytes(_mets([(f"f{n}", b"") for n in range(10_001)]))
    result = offline("audit", "verify-export", "many", code=2)
    assert "the package's manifests list more than 10000 files (at METS.xml): refused unread" in result.stderr


def test_too_many_manifests_are_refused(tmp_path: Path) -> None:
    """A chain of METS documents longer than a package has is refused (each is read once, but the chain is bounded)."""
    fan_out(tmp_path / "deep", width=1, depth=20)
    result = offline("audit", "verify-export", "deep", code=2)
    assert "the package has more than 16 METS manifests" in result.stderr
