"""`beslut demo` then `beslut serve` as real processes: the console script serves the dashboard.

This is the path a coordinator takes: play the demo into a new file, make a token, start
the server, sign in through the form and read the pages. The server runs on the
system clock, so the test checks what does not depend on today: the closed demo
recommendations and their pages.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli.helpers import SCRIPT, ok, run_script
from tests.web.data import KEY_2022, KEY_2025
from tests.web.html import parse
from tests.web.server import free_port

START_TIMEOUT = 60.0


def _wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"beslut serve exited early: {process.communicate()}"
        try:
            if httpx.get(f"{base}/logga-in", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"beslut serve did not answer on {base} within {START_TIMEOUT}s")


def test_demo_then_serve_shows_the_dashboard(tmp_path: Path) -> None:
    """The demo's file, served by `beslut serve`: login form, cookie, matrix with both demo cases, a timeline."""
    db = tmp_path / "demo.db"
    demo = run_script("demo", db=str(db), cwd=tmp_path)
    assert 0 == demo.code, demo.stderr
    token = ok("token", "create", "--role", "auditor", db=str(db)).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--db", str(db), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(base, process)
        with httpx.Client(base_url=base, timeout=10) as client:
            assert 303 == client.get("/").status_code
            signed = client.post(
                "/logga-in",
                content=f"token={token}&next=%2F%3Falla%3D1",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert 303 == signed.status_code
            assert "/?alla=1" == signed.headers["location"]
            matrix = parse(client.get("/?alla=1").text).by_id("matris")
            keys = [h.attrs["data-rekommendation"] for h in matrix.find_all("th", scope="col")[1:]]
            assert [KEY_2022, KEY_2025] == keys
            assert 9 == len(matrix.find_all("td", data_rekommendation=KEY_2025, data_tillstand="final"))
            timeline = parse(client.get(f"/rekommendationer/{KEY_2025}").text).by_id("tidslinje")
            assert "recommendation.in_force" in [r.attrs.get("data-slag") for r in timeline.find_all("tr")]
            assert client.get("/diagram/party.svg").text.lstrip().startswith("<?xml")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
    assert process.returncode in (0, -signal.SIGTERM), err
