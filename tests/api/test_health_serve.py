"""The probes as a load balancer meets them: `beslut serve` as a real process, its SQLite file removed under it.

Readiness turns 503 with the reason at once, liveness stays 200, the metrics still answer with
``beslut_database_up 0``, and no empty database file appears where the old one was.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from datetime import date
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from beslut import Engine
from tests.cli.helpers import SCRIPT
from tests.conftest import spec_2022

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def database_up(base: str) -> float:
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert 200 == response.status_code
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    return families["beslut_database_up"].samples[0].value


def test_removing_the_database_file_makes_a_served_process_unready(tmp_path: Path) -> None:
    """200 while the file is there; 503 problem+json naming the missing file after; /healthz 200 throughout."""
    path = tmp_path / "beslut.db"
    with Engine.open(path, actor="setup") as setup:
        setup.init()
        setup.propose(spec_2022(), on=date(2022, 6, 3))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--db", str(path), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, "beslut serve exited early"
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "beslut serve did not answer"
            time.sleep(0.1)

        assert 200 == httpx.get(f"{base}/readyz", timeout=10).status_code
        assert 1.0 == database_up(base)

        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

        response = httpx.get(f"{base}/readyz", timeout=10)
        assert 503 == response.status_code
        assert response.headers["content-type"].startswith("application/problem+json")
        assert f"the database file {path} does not exist" == response.json()["detail"]
        assert 200 == httpx.get(f"{base}/healthz", timeout=10).status_code
        assert 0.0 == database_up(base)
        assert not path.exists(), "a probe or a scrape created an empty database"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM it handled
