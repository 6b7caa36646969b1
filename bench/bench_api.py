"""Requests per second through the HTTP API, as a ratio to the in-process Engine doing the same calls.

Run::

    .venv/bin/python -m bench.bench_api [--requests N] [--blocks B] [--warmup W] [--db-dir DIR] [--smoke]

One SQLite file (WAL, ``synchronous=FULL``, as always) in a fresh temporary directory is filled through
the engine with recommendations of ``examples/mini-maria-2022.toml`` (unique keys), each proposed and
recommended on 2022-06-03, and an ``admin`` API token. A real uvicorn process then serves
:func:`beslut.api.create_app` on it (one worker, access log off, log level ``warning``: what is
measured is the app, not the terminal). Four rows are measured:

- **status**: ``GET /recommendations/{key}`` (token check, one read transaction, the status document as
  JSON) against, in-process, ``case_status(engine.case(key))``;
- **decide**: ``POST /recommendations/{key}/parties/{party}/decide`` (token check, one durable write
  transaction, the status document back) against ``engine.decide(...)``; every call decides a party
  that has not decided yet, so each is a real state change with its audit event;

each with **1** and with **4** concurrent clients. A fifth row, **healthz** (``GET /healthz``: no token,
no database, an async endpoint), is HTTP only: the floor any request pays here.

A last line, **status CPU in process**, takes the network, uvicorn and the scheduler of this shared
machine out: the same app driven through httpx's ASGI transport in this process, and the CPU time
(``time.process_time``, every thread of the process) per ``GET /recommendations/{key}`` against the
CPU time per in-process ``case_status(engine.case(key))``, one client, ABBA blocks. It is the price of
FastAPI and the app alone (routing, dependencies, the token check, the thread hop, the response) and
moves little with the machine's load.

HTTP clients are ``httpx.Client`` objects, one per thread, keep-alive on; in-process, as many threads
share one :class:`~beslut.Engine` (it is thread-safe). Each row runs its N calls in B blocks, HTTP and
in-process taking turns in ABBA order (http, engine, engine, http, ...), so a noisy neighbour on this
shared machine slows both alike; W untimed calls of each come first. The HTTP figure includes everything
a client pays: its own request building and parsing in this process, the loopback socket, uvicorn,
FastAPI, the token lookup and the engine. The ratio http/engine is the price of the HTTP layer; nothing
here asserts a timing.

``--smoke`` runs a tiny workload so tests/test_bench_smoke.py keeps this script working.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx

from beslut import Engine, FixedClock, case_status
from beslut.clock import STOCKHOLM

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "examples" / "mini-maria-2022.toml"
PARTIES = ("2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303", "region-jh")
RECOMMENDED_ON = date(2022, 6, 3)
DECIDED_ON = date(2022, 6, 10)
CLOCK = datetime(2022, 12, 1, 12, 0, tzinfo=STOCKHOLM)  # after every legal date used
CLIENTS = (1, 4)
STATUS_KEYS = 20  # status calls rotate over this many recommendations
SERVER_START_TIMEOUT = 60.0
_KEY_LINE = re.compile(r'^key = "[^"]*"', re.MULTILINE)


# ---------------------------------------------------------------- the database and the server


def spec_for(template: str, key: str) -> str:
    """The example spec with its key replaced."""
    text, replaced = _KEY_LINE.subn(f'key = "{key}"', template, count=1)
    if replaced != 1:
        raise SystemExit(f"{SPEC_PATH} has no key line")
    return text


@dataclass
class Workload:
    """What each side gets to call: status keys, and (key, party) pairs not yet decided."""

    status_keys: list[str]
    undecided: dict[str, list[tuple[str, str]]]  # side -> pairs, handed out in order


def build(path: Path, decides_per_side: int) -> tuple[Workload, str]:
    """Fill the database; return the workload and an admin token's secret."""
    from beslut.api import tokens  # noqa: PLC0415 - the API's imports only when benchmarking it

    template = SPEC_PATH.read_text(encoding="utf-8")
    per_side = math.ceil(decides_per_side / len(PARTIES))
    with Engine.open(path, clock=FixedClock(CLOCK), actor="bench-setup") as engine:
        engine.init()
        keys = [f"status-{i:03d}" for i in range(STATUS_KEYS)]
        undecided: dict[str, list[tuple[str, str]]] = {"http": [], "engine": []}
        for side in ("http", "engine"):
            side_keys = [f"{side}-{i:05d}" for i in range(per_side)]
            keys += side_keys
            undecided[side] = [(key, party) for key in side_keys for party in PARTIES]
        for key in keys:
            engine.propose(spec_for(template, key), on=RECOMMENDED_ON)
            engine.recommend(key, on=RECOMMENDED_ON)
        _, secret = tokens.issue(engine.store, role="admin", party=None, label="bench", now=CLOCK)
    return Workload(status_keys=keys[:STATUS_KEYS], undecided=undecided), secret


def serve(database: str, port: int) -> None:
    """The server process: uvicorn on create_app, quiet (``--serve``)."""
    import uvicorn  # noqa: PLC0415

    from beslut.api import create_app  # noqa: PLC0415

    app = create_app(database, clock=FixedClock(CLOCK))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A real uvicorn process serving the database, started and stopped by this benchmark only."""

    def __init__(self, database: Path, log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # our own interpreter and module
                [sys.executable, "-m", "bench.bench_api", "--serve", str(database), "--port", str(self.port)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={key: value for key, value in os.environ.items() if key != "BESLUT_DB"},
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"the server did not become ready in {SERVER_START_TIMEOUT:.0f} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---------------------------------------------------------------- running calls


Call = Callable[[object], None]  # one call, given the worker's client (an httpx.Client, or the shared Engine)


@dataclass
class Side:
    """One way of making the calls: over HTTP or in-process; accumulates time and calls per row."""

    name: str
    seconds: float = 0.0
    calls: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def run_block(clients: Sequence[object], tasks: Sequence[Sequence[Call]], side: Side) -> None:
    """Run each worker's calls on its own thread with its own client; add the wall time to *side*."""
    start = threading.Barrier(len(clients) + 1)
    errors: list[BaseException] = []
    latencies: list[list[float]] = [[] for _ in clients]

    def work(index: int) -> None:
        start.wait()
        try:
            for call in tasks[index]:
                began = time.perf_counter()
                call(clients[index])
                latencies[index].append(time.perf_counter() - began)
        except BaseException as error:  # report it after the block, from the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    side.seconds += time.perf_counter() - began
    if errors:
        raise errors[0]
    side.calls += sum(len(t) for t in tasks)
    for each in latencies:
        side.latencies.extend(each)


def split(items: Sequence[Call], ways: int) -> list[list[Call]]:
    """Deal *items* out to *ways* workers, round robin."""
    return [list(items[i::ways]) for i in range(ways)]


def http_status(key: str) -> Call:
    def call(client: object) -> None:
        assert isinstance(client, httpx.Client)
        response = client.get(f"/recommendations/{key}")
        if response.status_code != 200:
            raise RuntimeError(f"GET {key}: {response.status_code} {response.text}")

    return call


def http_healthz(client: object) -> None:
    """The floor: an async endpoint with no token, no database and no thread hand-off."""
    assert isinstance(client, httpx.Client)
    response = client.get("/healthz")
    if response.status_code != 200:
        raise RuntimeError(f"GET /healthz: {response.status_code}")


def engine_status(key: str) -> Call:
    def call(engine: object) -> None:
        assert isinstance(engine, Engine)
        case_status(engine.case(key))

    return call


def http_decide(key: str, party: str) -> Call:
    body = {"outcome": "approved", "paragraph": "§ 1", "on": DECIDED_ON.isoformat()}

    def call(client: object) -> None:
        assert isinstance(client, httpx.Client)
        response = client.post(f"/recommendations/{key}/parties/{party}/decide", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"decide {key}/{party}: {response.status_code} {response.text}")

    return call


def engine_decide(key: str, party: str) -> Call:
    def call(engine: object) -> None:
        assert isinstance(engine, Engine)
        engine.decide(key, party, outcome="approved", paragraph="§ 1", on=DECIDED_ON)

    return call


@dataclass
class Row:
    """One measured row of the table."""

    operation: str
    clients: int
    http: Side
    engine: Side

    @property
    def ratio(self) -> float:
        return self.http.per_second / self.engine.per_second if self.engine.per_second else 0.0


def measure(
    operation: str,
    clients: int,
    make_calls: Callable[[str, int], list[Call]],
    http_clients: Sequence[httpx.Client],
    engine: Engine,
    *,
    requests: int,
    blocks: int,
    warmup: int,
) -> Row:
    """Warm up, then run *requests* calls per side in *blocks* ABBA blocks."""
    row = Row(operation, clients, Side("http"), Side("engine"))
    pools: dict[str, Sequence[object]] = {"http": http_clients[:clients], "engine": [engine] * clients}
    for name in ("http", "engine"):  # untimed
        run_block(pools[name], split(make_calls(name, warmup), clients), Side("warm-up"))
    per_block = max(requests // blocks, clients)
    for block in range(blocks):
        order = ("http", "engine") if block % 2 == 0 else ("engine", "http")
        for name in order:
            side = row.http if name == "http" else row.engine
            run_block(pools[name], split(make_calls(name, per_block), clients), side)
    return row


def run(directory: Path, *, requests: int, blocks: int, warmup: int) -> tuple[list[Row], CpuRow]:
    """Build, serve, measure the four rows and the healthz floor; stop the server; then the in-process CPU line."""
    per_block = max(requests // blocks, *CLIENTS)
    decides_per_side = sum(per_block * blocks + warmup for _ in CLIENTS)
    database = directory / "bench-api.db"
    print(f"building {database} ...", file=sys.stderr)
    workload, secret = build(database, decides_per_side)
    cursor = {"http": 0, "engine": 0, "status": 0}

    def status_calls(side: str, count: int) -> list[Call]:
        keys = workload.status_keys
        first = cursor["status"]
        cursor["status"] += count
        make = http_status if side == "http" else engine_status
        return [make(keys[(first + i) % len(keys)]) for i in range(count)]

    def decide_calls(side: str, count: int) -> list[Call]:
        pairs = workload.undecided[side][cursor[side] : cursor[side] + count]
        if len(pairs) < count:
            raise SystemExit(f"ran out of undecided parties for {side}")
        cursor[side] += count
        make = http_decide if side == "http" else engine_decide
        return [make(key, party) for key, party in pairs]

    rows: list[Row] = []
    with ExitStack() as stack:
        server = Server(database, directory / "server.log")
        stack.callback(server.stop)
        engine = stack.enter_context(Engine.open(database, clock=FixedClock(CLOCK), actor="bench"))
        headers = {"Authorization": f"Bearer {secret}"}
        http_clients = [
            stack.enter_context(httpx.Client(base_url=server.base_url, headers=headers, timeout=60.0))
            for _ in range(max(CLIENTS))
        ]
        for operation, make_calls in (("status", status_calls), ("decide", decide_calls)):
            for clients in CLIENTS:
                print(f"measuring {operation} with {clients} client(s) ...", file=sys.stderr)
                rows.append(
                    measure(
                        operation,
                        clients,
                        make_calls,
                        http_clients,
                        engine,
                        requests=requests,
                        blocks=blocks,
                        warmup=warmup,
                    )
                )
        floor = Side("http")
        run_block(http_clients[:1], [[http_healthz] * warmup], Side("warm-up"))
        for _ in range(blocks):
            run_block(http_clients[:1], [[http_healthz] * per_block], floor)
        rows.append(Row("healthz", 1, floor, Side("engine")))
        report = engine.verify_audit()
        if not report.ok:
            raise SystemExit(f"the audit log does not verify after the run: {report.problem}")
    print("measuring status CPU in process ...", file=sys.stderr)
    cpu = measure_cpu_in_process(database, secret, workload.status_keys, requests=requests, blocks=blocks)
    return rows, cpu


@dataclass
class CpuRow:
    """CPU seconds per call of the app in process (ASGI transport) and of the engine, for status."""

    calls: int
    asgi_cpu: float
    engine_cpu: float

    @property
    def ratio(self) -> float:
        """engine CPU / app CPU: as the other ratios, 1.0 would mean the HTTP layer costs nothing."""
        return self.engine_cpu / self.asgi_cpu if self.asgi_cpu else 0.0


def measure_cpu_in_process(database: Path, secret: str, keys: Sequence[str], *, requests: int, blocks: int) -> CpuRow:
    """Status through the app in this process (no socket, no uvicorn) vs the engine, CPU time, ABBA blocks."""
    import asyncio  # noqa: PLC0415

    from beslut.api import create_app  # noqa: PLC0415

    app = create_app(database, clock=FixedClock(CLOCK))
    per_block = max(requests // blocks, 1)
    seconds = {"asgi": 0.0, "engine": 0.0}
    calls = {"asgi": 0, "engine": 0}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            with Engine.open(database, clock=FixedClock(CLOCK), actor="bench") as engine:

                async def asgi_calls(count: int, first: int) -> None:
                    for i in range(count):
                        response = await client.get(f"/recommendations/{keys[(first + i) % len(keys)]}")
                        if response.status_code != 200:
                            raise RuntimeError(f"in-process GET: {response.status_code} {response.text}")

                def engine_calls(count: int, first: int) -> None:
                    for i in range(count):
                        case_status(engine.case(keys[(first + i) % len(keys)]))

                await asgi_calls(per_block, 0)  # warm-up, untimed
                engine_calls(per_block, 0)
                for block in range(blocks):
                    order = ("asgi", "engine") if block % 2 == 0 else ("engine", "asgi")
                    for side in order:
                        began = time.process_time()
                        if side == "asgi":
                            await asgi_calls(per_block, block * per_block)
                        else:
                            engine_calls(per_block, block * per_block)
                        seconds[side] += time.process_time() - began
                        calls[side] += per_block

    try:
        asyncio.run(run())
    finally:
        app.state.store.close()
    return CpuRow(calls["asgi"], seconds["asgi"] / calls["asgi"], seconds["engine"] / calls["engine"])


def render(rows: Sequence[Row], *, requests: int, blocks: int, cpu: CpuRow | None = None) -> str:
    """The table, then one ratio line per row."""
    lines = [
        f"HTTP API (uvicorn, 1 worker, loopback) vs in-process Engine, SQLite; about {requests} calls per side "
        f"and row in {blocks} ABBA blocks",
        f"{'operation':<10}{'clients':>8}{'calls':>7}{'http req/s':>12}{'engine calls/s':>16}"
        f"{'http p50 ms':>13}{'engine p50 ms':>15}{'http/engine':>13}",
    ]
    for row in rows:
        if not row.engine.calls:  # the floor: HTTP only
            lines.append(
                f"{row.operation:<10}{row.clients:>8}{row.http.calls:>7}{row.http.per_second:>12.0f}{'-':>16}"
                f"{statistics.median(row.http.latencies) * 1000:>13.2f}{'-':>15}{'-':>13}"
            )
            continue
        lines.append(
            f"{row.operation:<10}{row.clients:>8}{row.http.calls:>7}{row.http.per_second:>12.0f}"
            f"{row.engine.per_second:>16.0f}{statistics.median(row.http.latencies) * 1000:>13.2f}"
            f"{statistics.median(row.engine.latencies) * 1000:>15.2f}{row.ratio:>12.2f}x"
        )
    for row in rows:
        if row.engine.calls:
            lines.append(f"ratio http/engine ({row.operation}, {row.clients} client(s)): {row.ratio:.2f}x")
    if cpu is not None:
        lines.append(
            f"status CPU in process ({cpu.calls} calls each): app via ASGI {cpu.asgi_cpu * 1000:.2f} ms, "
            f"engine {cpu.engine_cpu * 1000:.2f} ms; ratio engine/app CPU: {cpu.ratio:.2f}x"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=800, help="timed calls per side and row (default 800)")
    parser.add_argument("--blocks", type=int, default=4, help="ABBA blocks per row (default 4)")
    parser.add_argument("--warmup", type=int, default=40, help="untimed calls per side before each row")
    parser.add_argument("--db-dir", type=Path, default=None, help="where the SQLite file goes (default: a temp dir)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, to check the script works")
    parser.add_argument("--serve", metavar="DB", default=None, help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.blocks, args.warmup = 16, 2, 4
    if args.requests < 1 or args.blocks < 1 or args.warmup < 0:
        parser.error("need --requests >= 1, --blocks >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.port)
        return 0
    with ExitStack() as stack:
        directory = Path(tempfile.mkdtemp(prefix="beslut-bench-api-", dir=args.db_dir))
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        rows, cpu = run(directory, requests=args.requests, blocks=args.blocks, warmup=args.warmup)
    print(render(rows, requests=args.requests, blocks=args.blocks, cpu=cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
