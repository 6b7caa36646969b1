"""`beslut serve` as a real process: it answers on its port, with tokens, on both stores, and stops on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli.helpers import SCRIPT, ok, run_script
from tests.conftest import KEY

START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"beslut serve exited early: {process.communicate()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"beslut serve did not answer on {base} within {START_TIMEOUT}s")


def test_serve_answers_on_its_port(cli_db: str, tmp_path: Path) -> None:
    """Start the console script, read a status with a token, record a decision, refuse without a token, stop it."""
    token = ok("token", "create", "--role", "clerk", "--party", "2380", db=cli_db).stdout.strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--db", cli_db, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(base, process)
        auth = {"Authorization": f"Bearer {token}"}
        status = httpx.get(f"{base}/recommendations/{KEY}", headers=auth, timeout=10)
        assert 200 == status.status_code
        assert "recommended" == status.json()["state"]
        decided = httpx.post(
            f"{base}/recommendations/{KEY}/parties/2380/decide",
            json={"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"},
            headers={**auth, "If-Match": status.headers["etag"]},
            timeout=10,
        )
        assert 200 == decided.status_code, decided.text
        assert 401 == httpx.get(f"{base}/recommendations/{KEY}", timeout=10).status_code
        assert "approved" == ok("status", KEY, "--json", db=cli_db).json()["parties"][0]["outcome"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
    # uvicorn shuts down cleanly, then re-raises the signal it caught (so the exit status says SIGTERM).
    assert process.returncode in (0, -signal.SIGTERM), err
    assert "Uvicorn running on" in err
    assert "Application shutdown complete" in err


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    """No database: one error line, exit 2, no file created, nothing listening."""
    db = tmp_path / "none.db"
    result = run_script("serve", "--port", str(_free_port()), db=str(db), cwd=tmp_path)
    assert 2 == result.code
    assert [f"error: database {db} does not exist: run `beslut init` first"] == result.stderr.splitlines()
    assert not db.exists()
