"""The audit endpoints on both stores: the same documents as `beslut audit … --json`, refusals that change nothing.

Checkpoints, proofs and packages are made both ways (CLI and HTTP) and checked across:
a proof the API makes verifies with the CLI and the other way round, an exported zip is
a package `audit verify-export` accepts. Whatever does not verify is a 409 audit-broken
problem (never a 5xx) carrying what the CLI's ``--json`` shows; malformed input is 422.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # as in conftest.py: the pinned httpx works the same for the TestClient
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from beslut.api import create_app
from beslut.audit import checkpoint as checkpoints
from beslut.audit import keys
from beslut.clock import FixedClock
from tests.api.conftest import NOW, Api
from tests.api.test_serve import _free_port, _wait_until_up
from tests.cli.helpers import SCRIPT, ok, run, tamper_audit
from tests.conftest import KEY


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh Ed25519 pair: (private PEM, public PEM)."""
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    keys.generate(private, public)
    return private, public


@pytest.fixture
def signer(api: Api, key_files: tuple[Path, Path]) -> Iterator[TestClient]:
    """A second app on the same database, configured with a checkpoint key (as `serve --checkpoint-key`)."""
    app = create_app(api.store, clock=FixedClock(NOW), checkpoint_key=key_files[0])
    with TestClient(app) as client:
        yield client


def problem_of(api: Api, response: httpx.Response, status: int, before: Any) -> dict[str, Any]:
    """*response* is a one-line problem document with *status*, and the database is what it was (*before*)."""
    assert status == response.status_code, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert status == problem["status"]
    assert problem["detail"]
    assert "\n" not in problem["detail"]
    assert before == api.dump()
    return problem


def cli_checkpoint(api: Api, private: Path, out: Path) -> dict[str, Any]:
    """A checkpoint made by `beslut audit checkpoint` into *out*."""
    ok("audit", "checkpoint", "--key", str(private), "--out", str(out), db=api.url)
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def decide_2380(api: Api) -> None:
    """One more command, so the log grows past a checkpoint."""
    body = {"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"}
    assert 200 == api.post(f"/recommendations/{KEY}/parties/2380/decide", body).status_code


# ---------------------------------------------------------------- verify


class TestVerify:
    def test_a_broken_log_is_409_with_the_report_not_500(self, api: Api) -> None:
        """GET /audit/verify on a tampered log: 409 audit-broken; first bad seq and the full report attached."""
        tamper_audit(api.url, seq=1)
        cli = run("audit", "verify", "--json", db=api.url)
        assert 4 == cli.code
        problem = problem_of(api, api.get("/audit/verify", who="auditor"), 409, api.dump())
        assert "urn:beslut:problem:audit-broken" == problem["type"]
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]
        assert 1 == problem["first_bad_seq"]
        assert cli.json() == problem["report"]
        assert problem["failed_check"] == problem["report"]["failed_check"]

    def test_against_a_checkpoint_is_the_cli_report(
        self, api: Api, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        """POST /audit/verify with a checkpoint and its key: `audit verify --checkpoint --pubkey --json`."""
        private, public = key_files
        document = cli_checkpoint(api, private, tmp_path / "c.json")
        decide_2380(api)  # the log has grown: it must still extend the checkpoint
        body = {"checkpoint": document, "pubkey": public.read_text()}
        response = api.post("/audit/verify", body, who="auditor")
        assert 200 == response.status_code, response.text
        cli = ok(
            "audit", "verify", "--checkpoint", str(tmp_path / "c.json"), "--pubkey", str(public), "--json", db=api.url
        ).json()
        assert {k: v for k, v in cli.items() if k != "checkpoint"} == {
            k: v for k, v in response.json().items() if k != "checkpoint"
        }
        assert response.json()["ok"] is True
        assert response.json()["checkpoint"] is not None

    def test_a_checkpoint_signed_by_another_key_is_409(
        self, api: Api, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
        keys.generate(other_private, other_public)
        document = cli_checkpoint(api, key_files[0], tmp_path / "c.json")
        before = api.dump()
        response = api.post("/audit/verify", {"checkpoint": document, "pubkey": other_public.read_text()})
        problem = problem_of(api, response, 409, before)
        assert "urn:beslut:problem:audit-broken" == problem["type"]
        assert "was signed by key" in problem["detail"]

    @pytest.mark.parametrize(
        ("change", "says"),
        [
            (lambda c, pem: (dict(c, tree_size="3"), pem), "tree_size must be a positive integer"),
            (lambda c, pem: ({k: v for k, v in c.items() if k != "root"}, pem), "has no root"),
            (lambda c, pem: (c, "not a key"), "pubkey is not a PEM public key"),
            (lambda c, pem: (c, Path(str(pem)).read_text()), "holds a private key"),
        ],
        ids=["bad-size", "missing-root", "not-a-key", "private-key"],
    )
    def test_malformed_input_is_422(
        self, api: Api, key_files: tuple[Path, Path], tmp_path: Path, change: Any, says: str
    ) -> None:
        document = cli_checkpoint(api, key_files[0], tmp_path / "c.json")
        pem = key_files[1].read_text() if "private" not in says else key_files[0]
        checkpoint, pubkey = change(document, pem)
        problem = api.refused("POST", "/audit/verify", {"checkpoint": checkpoint, "pubkey": pubkey}, status=422)
        assert says in problem["detail"]


# ---------------------------------------------------------------- checkpoints


class TestCheckpoint:
    def test_without_a_configured_key_it_is_503_saying_so(self, api: Api) -> None:
        problem = api.refused("POST", "/audit/checkpoint", {}, status=503, who="auditor")
        assert "urn:beslut:problem:checkpoint-key-missing" == problem["type"]
        assert "--checkpoint-key" in problem["detail"]

    def test_the_server_signs_with_its_key_and_the_cli_accepts_it(
        self, api: Api, signer: TestClient, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        """An auditor asks; the file verifies with the public key, covers the whole log, and the CLI accepts it."""
        before = api.dump()
        response = signer.post("/audit/checkpoint", headers=api.headers("auditor"))
        assert 200 == response.status_code, response.text
        assert before == api.dump()
        signed = checkpoints.parse(response.content, "response")
        checkpoints.check_signature(signed, keys.load_public(key_files[1]), "response")
        assert len(api.get("/audit/log").json()) == signed.tree_size
        assert NOW.isoformat(timespec="seconds") == signed.created_at
        (tmp_path / "api.json").write_bytes(response.content)
        ok("audit", "verify", "--checkpoint", str(tmp_path / "api.json"), "--pubkey", str(key_files[1]), db=api.url)

    @pytest.mark.parametrize("who", ["clerk_2380", "coordinator"])
    def test_only_auditor_and_admin_may_ask(self, api: Api, signer: TestClient, who: str) -> None:
        before = api.dump()
        response = signer.post("/audit/checkpoint", headers=api.headers(who))
        assert "urn:beslut:problem:forbidden" == problem_of(api, response, 403, before)["type"]
        assert 200 == signer.post("/audit/checkpoint", headers=api.headers("admin")).status_code

    def test_a_broken_log_is_never_signed(self, api: Api, signer: TestClient) -> None:
        tamper_audit(api.url, seq=2)
        before = api.dump()
        problem = problem_of(api, signer.post("/audit/checkpoint", headers=api.headers("auditor")), 409, before)
        assert problem["detail"].startswith("refusing to sign: audit log broken at seq 2")

    def test_serve_refuses_a_key_others_can_read(self, api: Api, key_files: tuple[Path, Path]) -> None:
        """`create_app(checkpoint_key=FILE)` loads the key at start: an exposed one stops the server there."""
        key_files[0].chmod(0o644)
        result = run("serve", "--checkpoint-key", str(key_files[0]), "--port", "0", db=api.url)
        assert 2 == result.code
        assert "is accessible to others" in result.stderr


# ---------------------------------------------------------------- proofs


class TestProofs:
    def test_prove_is_the_cli_proof_and_verifies_both_ways(
        self, api: Api, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        private, public = key_files
        document = cli_checkpoint(api, private, tmp_path / "c.json")
        response = api.post("/audit/prove", {"seq": 2, "checkpoint": document, "pubkey": public.read_text()})
        assert 200 == response.status_code, response.text
        cli = ok("audit", "prove", "2", "--checkpoint", str(tmp_path / "c.json"), db=api.url).stdout
        assert cli == response.text
        (tmp_path / "p.json").write_text(response.text)
        line = ok("audit", "verify-proof", str(tmp_path / "p.json"), "--pubkey", str(public), db=None).stdout.strip()
        checked = api.post("/audit/verify-proof", {"proof": response.json(), "pubkey": public.read_text()})
        assert 200 == checked.status_code, checked.text
        assert {"ok": True, "verified": line.replace(str(tmp_path / "p.json"), "in the request")} == checked.json()
        assert line.startswith("ok: seq 2 (")

    def test_an_altered_proof_is_409(self, api: Api, key_files: tuple[Path, Path], tmp_path: Path) -> None:
        document = cli_checkpoint(api, key_files[0], tmp_path / "c.json")
        proof = api.post("/audit/prove", {"seq": 1, "checkpoint": document}).json()
        proof["event"]["payload"]["actor"] = "mallory"
        before = api.dump()
        response = api.post("/audit/verify-proof", {"proof": proof, "pubkey": key_files[1].read_text()})
        assert "the event was altered" in problem_of(api, response, 409, before)["detail"]

    def test_a_seq_outside_the_checkpoint_is_refused_as_by_the_cli(
        self, api: Api, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        document = cli_checkpoint(api, key_files[0], tmp_path / "c.json")
        seq = document["tree_size"] + 1
        cli = run("audit", "prove", str(seq), "--checkpoint", str(tmp_path / "c.json"), db=api.url)
        assert 2 == cli.code
        problem = api.refused("POST", "/audit/prove", {"seq": seq, "checkpoint": document}, status=422)
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]

    def test_consistency_between_two_server_checkpoints(
        self, api: Api, signer: TestClient, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        """Sign, decide, sign again: the later log extends the earlier; the proof checks with the CLI too."""
        first = signer.post("/audit/checkpoint", headers=api.headers("auditor")).json()
        decide_2380(api)
        second = signer.post("/audit/checkpoint", headers=api.headers("auditor")).json()
        assert second["tree_size"] > first["tree_size"]
        pem = key_files[1].read_text()
        response = api.post("/audit/prove-consistency", {"first": first, "second": second, "pubkey": pem})
        assert 200 == response.status_code, response.text
        (tmp_path / "a.json").write_text(json.dumps(first))
        (tmp_path / "b.json").write_text(json.dumps(second))
        cli = ok("audit", "prove-consistency", str(tmp_path / "a.json"), str(tmp_path / "b.json"), db=api.url)
        assert cli.stdout == response.text
        assert 200 == api.post("/audit/verify-proof", {"proof": response.json(), "pubkey": pem}).status_code
        backwards = run("audit", "prove-consistency", str(tmp_path / "b.json"), str(tmp_path / "a.json"), db=api.url)
        assert 0 != backwards.code
        status = 422 if backwards.code == 2 else 409
        api.refused("POST", "/audit/prove-consistency", {"first": second, "second": first}, status=status)


# ---------------------------------------------------------------- replay


class TestReplay:
    def test_replay_is_the_cli_document(self, api: Api) -> None:
        decide_2380(api)
        assert ok("audit", "replay", "--json", db=api.url).json() == api.get("/audit/replay", who="auditor").json()
        as_of = ok("audit", "replay", "--as-of-valid", "2022-06-03", "--json", db=api.url).json()
        assert as_of == api.get("/audit/replay", as_of_valid="2022-06-03").json()
        checked = api.get("/audit/replay", check="true").json()
        assert {"ok": True, "differences": []} == checked["check"]
        empty = ok("audit", "replay", "--as-of-valid", "2022-01-01", "--json", db=api.url).json()
        assert [] == empty["recommendations"]
        streamed = api.get("/audit/replay", as_of_valid="2022-01-01")
        assert empty == streamed.json()
        assert "application/json" == streamed.headers["content-type"]
        whole = api.get("/audit/replay").content  # streamed one recommendation at a time: the same bytes as one dump
        assert json.dumps(json.loads(whole), ensure_ascii=False, separators=(",", ":")).encode() == whole

    def test_a_difference_with_the_live_tables_is_409_listing_it(self, api: Api) -> None:
        url = api.url if "://" in api.url else f"sqlite:///{api.url}"
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE recommendation SET version = 99"))
        engine.dispose()
        cli = run("audit", "replay", "--check", "--json", db=api.url)
        assert 4 == cli.code
        before = api.dump()
        problem = problem_of(api, api.get("/audit/replay", check="true"), 409, before)
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]
        assert cli.json()["check"]["differences"] == problem["differences"]
        assert {"key": KEY, "party": None, "field": "version", "live": 99} == {
            k: v for k, v in problem["differences"][0].items() if k != "replayed"
        }

    @pytest.mark.parametrize(
        ("params", "cli"),
        [
            (
                {"as_of_recorded": "2022-10-01", "as_of_valid": "2022-10-01"},
                ["--as-of", "2022-10-01", "--as-of-valid", "2022-10-01"],
            ),
            ({"as_of_valid": "yesterday"}, ["--as-of-valid", "yesterday"]),
            ({"as_of_valid": "2022-10-01", "check": "true"}, ["--as-of-valid", "2022-10-01", "--check"]),
        ],
        ids=["both", "bad-date", "check-as-of"],
    )
    def test_bad_options_are_422_with_the_cli_line(self, api: Api, params: dict[str, str], cli: list[str]) -> None:
        expected = run("audit", "replay", *cli, db=api.url)
        assert 2 == expected.code
        query = "&".join(f"{k}={v}" for k, v in params.items())
        problem = api.refused("GET", f"/audit/replay?{query}", status=422)
        assert expected.stderr.strip().removeprefix("error: ") == problem["detail"]


# ---------------------------------------------------------------- export


def unzip(data: bytes, into: Path) -> Path:
    """Unpack an archive from GET /audit/export; return the package directory (the one top directory)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        tops = {name.split("/", 1)[0] for name in zipped.namelist()}
        assert 1 == len(tops), tops
        zipped.extractall(into)
    return into / tops.pop()


def rezip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def forged_size() -> bytes:
    """A zip whose central directory says a member inflates to 10 bytes when it inflates to 100 kB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("pkg/METS.xml", b"a" * 100_000)
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, 10)  # the uncompressed size field
    return bytes(data)


def flagged(*, encrypted: bool = False, method: int | None = None) -> bytes:
    """A one-member zip whose headers say the member is encrypted, or compressed with *method* (99: AES)."""
    data = bytearray(rezip({"pkg/METS.xml": b"<mets/>"}))
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):  # local, central
        start = data.index(signature)
        if encrypted:
            struct.pack_into("<H", data, start + flags_at, 0x1)
        if method is not None:
            struct.pack_into("<H", data, start + method_at, method)
    return bytes(data)


def fanned_out_zip(width: int = 40, depth: int = 3) -> bytes:
    """The issue's 1.3 kB package: each METS lists ``a/METS.xml`` *width* times, *depth* levels deep."""
    members: dict[str, bytes] = {}
    inner = b'<mets:mets xmlns:mets="http://www.loc.gov/METS/"/>'
    for level in range(depth, 0, -1):
        members["pkg/" + "a/" * level + "METS.xml"] = inner
        entry = (
            f'<mets:file SIZE="{len(inner)}" CHECKSUM="{hashlib.sha256(inner).hexdigest()}" CHECKSUMTYPE="SHA-256">'
            '<mets:FLocat xlink:href="a/METS.xml"/></mets:file>'
        )
        inner = (
            '<mets:mets xmlns:mets="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink">'
            f"<mets:fileSec><mets:fileGrp>{entry * width}</mets:fileGrp></mets:fileSec></mets:mets>"
        ).encode()
    members["pkg/METS.xml"] = inner
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


class TestExport:
    def test_the_zip_is_a_package_the_cli_verifies(self, api: Api, tmp_path: Path) -> None:
        decide_2380(api)
        before = api.dump()
        response = api.get(f"/audit/export/{KEY}", who="auditor")
        assert 200 == response.status_code, response.text
        assert "application/zip" == response.headers["content-type"]
        assert before == api.dump()
        events = len(api.get(f"/recommendations/{KEY}/audit").json())
        assert str(events) == response.headers["x-beslut-events"]
        package = unzip(response.content, tmp_path / "unzipped")
        assert KEY == package.name
        line = ok("audit", "verify-export", str(package), db=None).stdout
        assert f"ok: package of {KEY}:" in line
        assert f"{events} events hash as recorded" in line
        checked = api.client.post(
            "/audit/verify-export",
            content=response.content,
            headers=api.headers("auditor", {"Content-Type": "application/zip"}),
        )
        assert 200 == checked.status_code, checked.text
        report = checked.json()
        assert (True, KEY, events, None) == (report["ok"], report["key"], report["events"], report["tree_size"])

    def test_with_a_checkpoint_every_event_is_proven(
        self, api: Api, key_files: tuple[Path, Path], tmp_path: Path
    ) -> None:
        document = cli_checkpoint(api, key_files[0], tmp_path / "c.json")
        pem = key_files[1].read_text()
        response = api.post(f"/audit/export/{KEY}", {"checkpoint": document, "pubkey": pem})
        assert 200 == response.status_code, response.text
        events = len(api.get(f"/recommendations/{KEY}/audit").json())
        assert str(events) == response.headers["x-beslut-proven"]
        checked = api.client.post(
            "/audit/verify-export",
            params={"pubkey": pem},
            content=response.content,
            headers=api.headers("auditor", {"Content-Type": "application/zip"}),
        )
        assert 200 == checked.status_code, checked.text
        assert (events, True) == (checked.json()["proven"], checked.json()["signature_checked"])
        package = unzip(response.content, tmp_path / "unzipped")
        assert (
            "events proven" in ok("audit", "verify-export", str(package), "--pubkey", str(key_files[1]), db=None).stdout
        )

    def test_an_altered_package_is_409(self, api: Api) -> None:
        data = api.get(f"/audit/export/{KEY}").content
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            members = {name: zipped.read(name) for name in zipped.namelist()}
        events = next(name for name in members if name.endswith("events.jsonl"))
        altered = members[events].replace(b"setup", b"mallory", 1)  # the actor id inside the first event
        assert altered != members[events]
        members[events] = altered
        before = api.dump()
        response = api.client.post(
            "/audit/verify-export",
            content=rezip(members),
            headers=api.headers("admin", {"Content-Type": "application/zip"}),
        )
        problem = problem_of(api, response, 409, before)
        assert problem["detail"].startswith("the package does not verify")

    @pytest.mark.parametrize(
        ("body", "status", "says"),
        [
            (b"not a zip at all", 415, "not a zip archive"),
            (b"", 422, "the request body is empty"),
            (rezip({"../evil.txt": b"x"}), 422, "is outside the package"),
            (rezip({"pkg/readme.txt": b"x"}), 422, "no METS.xml"),
            (forged_size(), 422, "the archive cannot be unpacked"),
            (flagged(encrypted=True), 422, "archive member 'pkg/METS.xml' is encrypted"),
            (flagged(method=99), 422, "archive member 'pkg/METS.xml' uses compression method 99"),
            (fanned_out_zip(), 422, "METS.xml lists 'a/METS.xml' more than once"),
        ],
        ids=["not-zip", "empty", "zip-slip", "no-package", "forged-size", "encrypted", "aes", "fan-out"],
    )
    def test_a_bad_archive_is_refused(self, api: Api, tmp_path: Path, body: bytes, status: int, says: str) -> None:
        before = api.dump()
        response = api.client.post(
            "/audit/verify-export", content=body, headers=api.headers("auditor", {"Content-Type": "application/zip"})
        )
        assert says in problem_of(api, response, status, before)["detail"]
        assert not (tmp_path.parent / "evil.txt").exists()

    def test_unknown_key_404_and_a_broken_log_409(self, api: Api, tmp_path: Path) -> None:
        cli = run("audit", "export", "nope", "--out", str(tmp_path / "out"), db=api.url)
        problem = api.refused("GET", "/audit/export/nope", status=404)
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]
        tamper_audit(api.url, seq=1)
        problem = api.refused("GET", f"/audit/export/{KEY}", status=409)
        assert problem["detail"].startswith("refusing to export: audit log broken at seq 1")


def test_every_audit_endpoint_needs_a_token(api: Api) -> None:
    for method, path in [
        ("POST", "/audit/verify"),
        ("POST", "/audit/checkpoint"),
        ("POST", "/audit/prove"),
        ("POST", "/audit/prove-consistency"),
        ("POST", "/audit/verify-proof"),
        ("GET", "/audit/replay"),
        ("GET", f"/audit/export/{KEY}"),
        ("POST", "/audit/verify-export"),
    ]:
        assert "urn:beslut:problem:unauthorized" == api.refused(method, path, status=401, who=None)["type"]


def test_a_served_process_signs_with_its_checkpoint_key(cli_db: str, tmp_path: Path) -> None:
    """`beslut serve --checkpoint-key FILE` as a real process: an auditor's POST /audit/checkpoint is signed by it."""
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    keys.generate(private, public)
    token = ok("token", "create", "--role", "auditor", db=cli_db).stdout.strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--db", cli_db, "--port", str(port), "--checkpoint-key", str(private)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(base, process)
        response = httpx.post(f"{base}/audit/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert 200 == response.status_code, response.text
        (tmp_path / "c.json").write_bytes(response.content)
        ok("audit", "verify", "--checkpoint", str(tmp_path / "c.json"), "--pubkey", str(public), db=cli_db)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
