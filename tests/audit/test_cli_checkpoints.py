"""`audit keygen`, `checkpoint`, `verify --checkpoint`, `prove`, `prove-consistency` and `verify-proof`, through the CLI.

Refusals are one `error:` line, nothing on stdout and an unchanged database (``refused``):
exit 2 for input that cannot be used (a malformed file, a private key where a public
one belongs), exit 4 for anything that does not verify (a wrong key, an altered
checkpoint or proof, a checkpoint of another log). Never a traceback, never a false ok.
"""

from __future__ import annotations

import base64
import json
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.audit.conftest import build
from tests.cli.helpers import KEY, SPEC_2022, Result, ok, refused, run

Keys = tuple[Path, Path]


def checkpoint_file(db: str, private: Path, path: Path) -> dict[str, Any]:
    ok("audit", "checkpoint", "--key", str(private), "--out", str(path), db=db)
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def offline(*args: str, code: int = 2) -> Result:
    """A refused command that needs no database: one `error:` line, nothing on stdout."""
    result = run(*args, db=None)
    assert code == result.code, result
    assert 1 == len(result.error_lines), result.stderr
    assert result.stderr.startswith("error: ")
    assert "" == result.stdout
    return result


def another_log(tmp_path: Path) -> str:
    """A different log: the 2022 case run through the Engine, a few events."""
    path = str(tmp_path / "other.db")
    clock = FixedClock(datetime(2022, 12, 1, 12, 0, tzinfo=STOCKHOLM))
    with Engine(open_store(path), clock=clock, actor="elsewhere") as engine:
        engine.init()
        engine.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
        engine.recommend(KEY, on=date(2022, 6, 3))
        for party in ("2380", "2309", "2321"):
            engine.decide(KEY, party, outcome="approved", paragraph="§ 9", on=date(2022, 9, 5))
    return path


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
    return path


class TestKeygen:
    def test_keygen_writes_a_pair_with_a_private_file_only_the_owner_reads(self, tmp_path: Path) -> None:
        result = ok("audit", "keygen", "--out-private", "k.pem", "--out-public", "k.pub", db=None)
        assert "k.pem" in result.stdout
        assert 0o600 == stat.S_IMODE((tmp_path / "k.pem").stat().st_mode)
        assert b"BEGIN PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()
        assert b"BEGIN PUBLIC KEY" in (tmp_path / "k.pub").read_bytes()

    def test_keygen_never_overwrites(self, tmp_path: Path) -> None:
        (tmp_path / "k.pem").write_text("precious")
        result = run("audit", "keygen", "--out-private", "k.pem", "--out-public", "k.pub", db=None)
        assert 2 == result.code
        assert result.stderr.startswith("error: k.pem already exists")
        assert "precious" == (tmp_path / "k.pem").read_text()
        assert not (tmp_path / "k.pub").exists()


class TestCheckpoint:
    def test_checkpoint_to_stdout_is_the_signed_head(self, small_log: str, key_pair: Keys) -> None:
        document = ok("audit", "checkpoint", "--key", str(key_pair[0]), db=small_log).json()
        report = ok("audit", "verify", "--json", db=small_log).json()
        assert report["events"] == document["tree_size"] == document["head_seq"]
        assert report["head_hash"] == document["head_hash"]
        assert report["merkle_root"] == document["root"]
        assert 64 == len(base64.b64decode(document["signature"]))

    def test_checkpoint_file_is_never_overwritten(self, sqlite_log: str, key_pair: Keys, tmp_path: Path) -> None:
        checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        result = refused("audit", "checkpoint", "--key", str(key_pair[0]), "--out", "c.json", db=sqlite_log)
        assert "already exists" in result.stderr

    def test_checkpoint_of_an_empty_log_is_refused(self, store_url: str, key_pair: Keys) -> None:
        db = build(store_url, 0)
        result = refused("audit", "checkpoint", "--key", str(key_pair[0]), db=db)
        assert "the audit log is empty" in result.stderr

    def test_a_broken_log_is_never_signed(self, small_log: str, key_pair: Keys) -> None:
        from tests.cli.helpers import tamper_audit  # noqa: PLC0415

        tamper_audit(small_log, seq=5)
        result = refused("audit", "checkpoint", "--key", str(key_pair[0]), db=small_log, code=4)
        assert "refusing to sign: audit log broken at seq 5" in result.stderr

    def test_a_public_key_cannot_sign(self, sqlite_log: str, key_pair: Keys) -> None:
        result = refused("audit", "checkpoint", "--key", str(key_pair[1]), db=sqlite_log)
        assert "holds a public key" in result.stderr

    def test_a_private_key_others_can_read_is_refused(self, sqlite_log: str, key_pair: Keys) -> None:
        key_pair[0].chmod(0o644)
        result = refused("audit", "checkpoint", "--key", str(key_pair[0]), db=sqlite_log)
        assert "chmod 600" in result.stderr

    @pytest.mark.parametrize(
        "content", ["", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
    )
    def test_a_file_that_is_not_a_key_is_refused(self, sqlite_log: str, tmp_path: Path, content: str) -> None:
        path = tmp_path / "bad.pem"
        path.write_text(content)
        path.chmod(0o600)
        result = refused("audit", "checkpoint", "--key", str(path), db=sqlite_log)
        assert "bad.pem" in result.stderr


class TestVerifyWithACheckpoint:
    def test_the_log_extends_its_checkpoint_and_later_ones_too(
        self, small_log: str, key_pair: Keys, tmp_path: Path
    ) -> None:
        checkpoint_file(small_log, key_pair[0], tmp_path / "c.json")
        build(small_log, 100)  # more events appended after the checkpoint
        args = ("audit", "verify", "--checkpoint", "c.json", "--pubkey", str(key_pair[1]))
        result = ok(*args, db=small_log)
        assert result.stdout.splitlines()[1].startswith("ok: the log extends the checkpoint of seq 1..")
        report = ok(*args, "--json", db=small_log).json()
        assert report["checkpoint"]["extended"] is True
        assert "checkpoint" in report["checks"]

    def test_checkpoint_and_pubkey_go_together(self, sqlite_log: str, key_pair: Keys, tmp_path: Path) -> None:
        checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        result = refused("audit", "verify", "--checkpoint", "c.json", db=sqlite_log)
        assert "--checkpoint and --pubkey go together" in result.stderr

    def test_a_wrong_key_does_not_verify(
        self, sqlite_log: str, key_pair: Keys, other_key_pair: Keys, tmp_path: Path
    ) -> None:
        checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        result = refused(
            "audit", "verify", "--checkpoint", "c.json", "--pubkey", str(other_key_pair[1]), db=sqlite_log, code=4
        )
        assert "was signed by key" in result.stderr

    def test_a_private_key_as_pubkey_is_refused(self, sqlite_log: str, key_pair: Keys, tmp_path: Path) -> None:
        checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        result = refused("audit", "verify", "--checkpoint", "c.json", "--pubkey", str(key_pair[0]), db=sqlite_log)
        assert "holds a private key" in result.stderr

    @pytest.mark.parametrize(
        ("change", "code", "says"),
        [
            (lambda d: d.update(created_at="2000-01-01T00:00:00+01:00"), 4, "the signature does not verify"),
            (lambda d: d.update(head_hash="0" * 64), 4, "the signature does not verify"),
            (lambda d: d.update(key_id="1" * 64), 4, "was signed by key"),
            (lambda d: d.update(signature=base64.b64encode(bytes(64)).decode()), 4, "the signature does not verify"),
            (lambda d: d.update(root="2" * 64), 2, "its subtrees do not make its root"),
            (lambda d: d.update(tree_size=d["tree_size"] + 1), 2, "head_seq must equal tree_size"),
            (lambda d: d.update(tree_size=0, head_seq=0), 2, "tree_size must be a positive integer"),
            (lambda d: d.update(tree_size=True, head_seq=True), 2, "tree_size must be a positive integer"),
            (lambda d: d.update(tree_size=2.5, head_seq=2.5), 2, "unexpected number 2.5"),
            (lambda d: d.pop("signature"), 2, "has no signature"),
            (lambda d: d.update(extra=1), 2, "unknown fields: extra"),
            (lambda d: d.update(format="beslut-checkpoint/0"), 2, "format is"),
            (lambda d: d.update(subtrees=d["subtrees"][:-1]), 2, "subtrees must list"),
            (lambda d: d.update(log_id="XYZ"), 2, "log_id must be 64 lower-case hex digits"),
            (lambda d: d.update(signature="***"), 2, "signature"),
            (lambda d: d.update(created_at="yesterday"), 2, "created_at"),
        ],
    )
    def test_an_altered_or_malformed_checkpoint_is_refused(
        self, sqlite_log: str, key_pair: Keys, tmp_path: Path, change: Any, code: int, says: str
    ) -> None:
        document = checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        change(document)
        write(tmp_path / "bad.json", document)
        result = refused(
            "audit", "verify", "--checkpoint", "bad.json", "--pubkey", str(key_pair[1]), db=sqlite_log, code=code
        )
        assert says in result.stderr

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("", "is not valid JSON"),
            ("[1, 2]", "is not a JSON object"),
            ("{", "is not valid JSON"),
            ('{"format": "a", "format": "b"}', "appears twice"),
            ('{"x": NaN}', "no fractions or constants"),
            ("\ufeff{}", "is not valid JSON"),
            ("\x00\xff", "is not valid JSON"),
            ("[" * 100_000, "is not valid JSON"),
        ],
    )
    def test_a_file_that_is_not_a_checkpoint_is_refused(
        self, sqlite_log: str, key_pair: Keys, tmp_path: Path, text: str, says: str
    ) -> None:
        (tmp_path / "bad.json").write_text(text, encoding="utf-8")
        result = refused("audit", "verify", "--checkpoint", "bad.json", "--pubkey", str(key_pair[1]), db=sqlite_log)
        assert says in result.stderr

    def test_a_missing_or_binary_checkpoint_file_is_refused(
        self, sqlite_log: str, key_pair: Keys, tmp_path: Path
    ) -> None:
        result = refused("audit", "verify", "--checkpoint", "nope.json", "--pubkey", str(key_pair[1]), db=sqlite_log)
        assert "cannot read checkpoint nope.json" in result.stderr
        (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
        result = refused("audit", "verify", "--checkpoint", "bin.json", "--pubkey", str(key_pair[1]), db=sqlite_log)
        assert "is not UTF-8 text" in result.stderr

    def test_a_checkpoint_of_another_log_does_not_verify(self, small_log: str, key_pair: Keys, tmp_path: Path) -> None:
        other = another_log(tmp_path)
        checkpoint_file(other, key_pair[0], tmp_path / "other.json")
        result = refused(
            "audit", "verify", "--checkpoint", "other.json", "--pubkey", str(key_pair[1]), db=small_log, code=4
        )
        assert "audit log broken at seq 1" in result.stderr or "it ends at seq" in result.stderr


class TestProofs:
    def test_prove_and_verify_offline(self, small_log: str, key_pair: Keys, tmp_path: Path) -> None:
        checkpoint_file(small_log, key_pair[0], tmp_path / "c.json")
        ok("audit", "prove", "42", "--checkpoint", "c.json", "--out", "p.json", db=small_log)
        proof = json.loads((tmp_path / "p.json").read_text())
        assert 41 == proof["leaf_index"]
        assert 42 == proof["event"]["seq"]
        result = ok("audit", "verify-proof", "p.json", "--pubkey", str(key_pair[1]), db=None)  # no database at all
        assert result.stdout.startswith("ok: seq 42 (")

    def test_every_seq_of_a_small_log_proves(self, small_log: str, key_pair: Keys, tmp_path: Path) -> None:
        document = checkpoint_file(small_log, key_pair[0], tmp_path / "c.json")
        for seq in (1, 2, 3, document["tree_size"] // 2, document["tree_size"] - 1, document["tree_size"]):
            printed = ok("audit", "prove", str(seq), "--checkpoint", "c.json", db=small_log).stdout
            write(tmp_path / f"p{seq}.json", printed)
            ok("audit", "verify-proof", f"p{seq}.json", "--pubkey", str(key_pair[1]), db=None)

    def test_a_seq_outside_the_checkpoint_is_refused(self, sqlite_log: str, key_pair: Keys, tmp_path: Path) -> None:
        document = checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        for seq in ("0", str(document["tree_size"] + 1)):
            result = refused("audit", "prove", seq, "--checkpoint", "c.json", db=sqlite_log)
            assert "is not covered by the checkpoint" in result.stderr

    @pytest.mark.parametrize(
        ("change", "says"),
        [
            (lambda p: p["event"]["payload"].update(actor="mallory"), "the event was altered"),
            (lambda p: p["event"].update(valid_on="2022-01-01"), "the event was altered"),
            (lambda p: p.update(audit_path=list(reversed(p["audit_path"]))), "does not lead from seq"),
            (lambda p: p.update(audit_path=p["audit_path"][:-1]), "does not lead from seq"),
            (lambda p: p.update(leaf_index=p["leaf_index"] + 1), "is not the event's seq"),
            (lambda p: p.update(tree_size=p["tree_size"] - 1), "is not the checkpoint's"),
            (lambda p: p["checkpoint"].update(created_at="2001-01-01T00:00:00+01:00"), "the signature does not verify"),
        ],
    )
    def test_an_altered_proof_does_not_verify(
        self, sqlite_log: str, key_pair: Keys, tmp_path: Path, change: Any, says: str
    ) -> None:
        checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        proof = ok("audit", "prove", "77", "--checkpoint", "c.json", db=sqlite_log).json()
        change(proof)
        write(tmp_path / "bad.json", proof)
        result = offline("audit", "verify-proof", "bad.json", "--pubkey", str(key_pair[1]), code=4)
        assert says in result.stderr

    def test_a_proof_against_another_logs_checkpoint_does_not_verify(
        self, small_log: str, key_pair: Keys, other_key_pair: Keys, tmp_path: Path
    ) -> None:
        """A genuine proof of another log (its own key) is refused with ours; ours with a foreign checkpoint inside too."""
        other = another_log(tmp_path)
        checkpoint_file(other, other_key_pair[0], tmp_path / "other.json")
        write(tmp_path / "theirs.json", ok("audit", "prove", "3", "--checkpoint", "other.json", db=other).stdout)
        result = offline("audit", "verify-proof", "theirs.json", "--pubkey", str(key_pair[1]), code=4)
        assert "was signed by key" in result.stderr
        checkpoint_file(other, key_pair[0], tmp_path / "other-ours.json")
        checkpoint_file(small_log, key_pair[0], tmp_path / "c.json")
        proof = ok("audit", "prove", "3", "--checkpoint", "c.json", db=small_log).json()
        proof["checkpoint"] = json.loads((tmp_path / "other-ours.json").read_text())
        proof["tree_size"] = proof["checkpoint"]["tree_size"]
        write(tmp_path / "mixed.json", proof)
        result = offline("audit", "verify-proof", "mixed.json", "--pubkey", str(key_pair[1]), code=4)
        assert "does not lead from seq 3" in result.stderr

    def test_proving_against_a_checkpoint_the_log_no_longer_extends_is_refused(
        self, small_log: str, key_pair: Keys, tmp_path: Path
    ) -> None:
        other = another_log(tmp_path)
        checkpoint_file(other, key_pair[0], tmp_path / "other.json")
        result = refused("audit", "prove", "3", "--checkpoint", "other.json", db=small_log, code=4)
        assert "the log does not extend the checkpoint" in result.stderr

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("{}", "is not a beslut proof"),
            ('{"format": "beslut-inclusion-proof/1"}', "has no event"),
            ("nonsense", "is not valid JSON"),
            ('{"format": "beslut-inclusion-proof/1", "format": "x"}', "appears twice"),
        ],
    )
    def test_a_malformed_proof_is_refused(
        self, sqlite_log: str, key_pair: Keys, tmp_path: Path, text: str, says: str
    ) -> None:
        (tmp_path / "bad.json").write_text(text)
        result = offline("audit", "verify-proof", "bad.json", "--pubkey", str(key_pair[1]))
        assert says in result.stderr

    def test_malformed_fields_of_a_proof_are_refused(self, sqlite_log: str, key_pair: Keys, tmp_path: Path) -> None:
        checkpoint_file(sqlite_log, key_pair[0], tmp_path / "c.json")
        good = ok("audit", "prove", "10", "--checkpoint", "c.json", db=sqlite_log).json()
        for field, value in [("audit_path", "x"), ("audit_path", ["zz" * 32]), ("leaf_index", "1"), ("event", [])]:
            bad = json.loads(json.dumps(good))
            bad[field] = value
            write(tmp_path / "bad.json", bad)
            result = offline("audit", "verify-proof", "bad.json", "--pubkey", str(key_pair[1]))
            assert "proof bad.json" in result.stderr

    def test_consistency_between_two_checkpoints(self, small_log: str, key_pair: Keys, tmp_path: Path) -> None:
        checkpoint_file(small_log, key_pair[0], tmp_path / "old.json")
        build(small_log, 200)
        checkpoint_file(small_log, key_pair[0], tmp_path / "new.json")
        ok("audit", "prove-consistency", "old.json", "new.json", "--out", "cons.json", db=small_log)
        result = ok("audit", "verify-proof", "cons.json", "--pubkey", str(key_pair[1]), db=None)
        assert result.stdout.startswith("ok: the log signed at seq 1..")
        document = json.loads((tmp_path / "cons.json").read_text())
        document["proof"] = document["proof"][1:]
        write(tmp_path / "bad.json", document)
        result = offline("audit", "verify-proof", "bad.json", "--pubkey", str(key_pair[1]), code=4)
        assert "does not extend the one signed" in result.stderr
        result = refused("audit", "prove-consistency", "new.json", "old.json", db=small_log)
        assert "must not be larger" in result.stderr
