"""What a request may cost, against `beslut serve` as a real process on both stores (beslut/api/limits.py).

A body over its route's limit is refused with 413 before the server reads past the limit
(with a ``Content-Length``, before it reads any of it; chunked, as soon as it passes it),
whether or not the request carries a token; heavy requests beyond the bound are refused
at once with 503 and ``Retry-After``. The requests are written on raw sockets so a test
controls exactly how much of a body is ever sent.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from beslut.api.limits import ROUTE_LIMITS
from tests.api.conftest import Api
from tests.api.served import Served, serve
from tests.conftest import KEY

MIB = 1024 * 1024
DECIDE = f"/recommendations/{KEY}/parties/2380/decide"


@pytest.fixture
def served(cli_db: str, tmp_path: Path) -> Iterator[Served]:
    """`beslut serve` on the 2022 case, with a token per role."""
    with serve(cli_db, tmp_path) as server:
        yield server


def connect(served: Served) -> socket.socket:
    """A socket to the server that gives up (failing the test) if the server stays silent for 20 s."""
    return socket.create_connection((served.host, served.port), timeout=20)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    """A request's head, as bytes on the wire."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (status, headers, body up to Content-Length) from *sock*."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without answering: {data!r}"
        data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, object]:
    assert expected == status, body
    assert headers["content-type"].startswith("application/problem+json")
    document: dict[str, object] = json.loads(body)
    assert expected == document["status"]
    return document


def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(served: Served) -> None:
    """50 MB declared on a command, no token: 413 at once, the server never waiting for a byte of the body."""
    with connect(served) as sock:
        sock.sendall(head("POST", DECIDE, {"Content-Type": "application/json", "Content-Length": str(50 * MIB)}))
        document = problem(*answer(sock), 413)
    assert "larger than 1 MB" in str(document["detail"])
    assert "urn:beslut:problem:body-too-large" == document["type"]


def test_an_import_over_its_limit_is_413_before_it_is_sent(served: Served) -> None:
    """The import's own limit (200 MB), with a token this time."""
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Content-Type": "application/x-ndjson",
        "Content-Length": str(200 * MIB + 1),
    }
    with connect(served) as sock:
        sock.sendall(head("POST", "/party-steps/import", headers))
        assert "larger than 200 MB" in str(problem(*answer(sock), 413)["detail"])


def test_a_chunked_body_is_cut_off_at_the_limit(served: Served) -> None:
    """No Content-Length: the body is counted as it comes, and refused (413) once past 1 MB, not read to its end."""
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    chunk = b"[" + b" " * (64 * 1024 - 2) + b"]"
    sent = 0
    with connect(served) as sock:
        sock.sendall(head("POST", DECIDE, headers))
        try:
            while sent < 8 * MIB:  # the server refuses long before this
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed: expected
        document = problem(*answer(sock), 413)
    assert "larger than 1 MB" in str(document["detail"])
    assert sent < 8 * MIB


def test_a_small_body_still_goes_through(served: Served) -> None:
    """Under its limit a command is the command (here refused by its own rule, not by the limit)."""
    response = httpx.post(
        f"{served.base}{DECIDE}",
        json={"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"},
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=20,
    )
    assert 200 == response.status_code, response.text


def test_a_method_the_route_lacks_is_405_even_with_a_body(served: Served) -> None:
    """GET with a body on a POST-only route: the router's 405 naming the route's methods, not a 413 for the body."""
    response = httpx.request(
        "GET",
        f"{served.base}/audit/prove",
        content=b'{"seq": 1}',
        headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"},
        timeout=20,
    )
    assert 405 == response.status_code, response.text
    assert "POST" in response.headers["Allow"]


def test_heavy_requests_beyond_the_bound_are_503_with_retry_after(served: Served) -> None:
    """Two package checks hold the two heavy slots (their bodies not yet sent): a third is 503 with Retry-After.

    Once they end, the next heavy request is served again (here refused for its empty body: 422).
    """
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Content-Type": "application/zip",
        "Content-Length": "1000",
    }
    holders = [connect(served), connect(served)]
    try:
        for sock in holders:
            sock.sendall(head("POST", "/audit/verify-export", headers) + b"PK")
        deadline = time.monotonic() + 30
        while True:  # the holders' requests reach the app in their own time; wait until both hold a slot
            response = httpx.post(
                f"{served.base}/audit/verify-export",
                content=b"",
                headers={**headers, "Content-Length": "0"},
                timeout=20,
            )
            if response.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert 503 == response.status_code, response.text
        assert "5" == response.headers["retry-after"]
        assert "urn:beslut:problem:busy" == response.json()["type"]
    finally:
        for sock in holders:
            sock.close()
    deadline = time.monotonic() + 30
    while True:
        after = httpx.post(
            f"{served.base}/audit/verify-export",
            content=b"",
            headers={**headers, "Content-Length": "0"},
            timeout=20,
        )
        if after.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 422 == after.status_code, after.text


def test_every_limited_route_is_a_route_of_the_app(api: Api) -> None:
    """The limits are keyed by path: a route renamed without its limit would silently fall back to the default."""
    app = api.client.app
    assert isinstance(app, FastAPI)
    routes = list(_routes(app.routes))
    for limit in ROUTE_LIMITS:
        as_paths = [re.sub(r"\{[^}]+\}", "x", path) for method, path in routes if method == limit.method]
        assert any(limit.path.fullmatch(path) for path in as_paths), (limit.method, limit.path.pattern)


def _routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, into the routers the app includes (no prefixes are used)."""
    for route in routes:
        if hasattr(route, "methods") and hasattr(route, "path"):
            yield from ((method, route.path) for method in route.methods)
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)
