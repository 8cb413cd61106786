"""Benchmark of the VTN's oadrPoll path: the gateway against a bare openleadr ``OpenADRServer``.

Usage (from the repository root, in the project's venv)::

    python bench/vtn_poll.py                # unsigned: gateway and bare openleadr, closed loop
    python bench/vtn_poll.py --sign rsa     # both VTNs sign every answer (RSA-2048)
    python bench/vtn_poll.py --fixed-rate   # 10,000 VENs polling every 10 s, gateway only
    python bench/vtn_poll.py --profile /tmp/gw   # also py-spy the gateway while it is measured

Both VTNs run as subprocesses (one Python process each): the gateway is ``oadr-gateway run`` with
a fresh SQLite database in a temporary directory, the bare VTN is openleadr's ``OpenADRServer``
with a ``ven_lookup``, an ``on_create_party_registration`` that accepts every VEN, and its
default poll answer (its internal queue, empty, so an ``oadrResponse``). This process is the load
generator: raw HTTP/1.1 over keep-alive asyncio connections, with one request per simulated VEN
built once from ``openleadr.messaging.create_message`` and reused. The targets are measured one
after the other, so the VTN under load has one core and the load generator the other.

Closed loop: ``--concurrency`` connections each send the next VEN's oadrPoll as soon as the last
answer arrived, cycling over ``--vens`` VENs; after a warm-up, the answers completed within the
window give polls/s and the latency percentiles. Fixed rate: every VEN polls every
``--interval`` seconds on its own schedule, spread evenly, whatever the answers do (open loop);
a latency is counted from the poll's scheduled time, so a stall delays every poll behind it, and
a poll left unanswered counts as an infinite latency.

Progress goes to stderr; stdout gets one result line per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

PREFIX = "/OpenADR2/Simple/2.0b"
VEN_ID_MARK = "BENCH-VEN-ID"
ADMIN_TOKEN = "bench-admin-token-" + uuid.uuid4().hex[:8]
BARE_VTN_ID = "bare-openleadr"
SETUP_CONCURRENCY = 50
UNSIGNED_TARGET = 0.9  # gateway >= 0.9x bare openleadr
SIGNED_TARGET = 20.0  # gateway >= 20x bare openleadr
P99_TARGET_MS = 100.0
READY_SECONDS = 90.0
CLIENT = "raw-http1.1-keepalive-separate-process"  # what sends the polls, for the result line
DRAIN_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark cannot go on (a VTN did not start, or refused the setup)."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> str:
    """The 1-minute load average: other work on this host skews every figure."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ven_ids(count: int) -> list[str]:
    return [f"bench-ven-{i:05d}" for i in range(count)]


# --- messages ---------------------------------------------------------------------------------
def _quiet_openleadr() -> None:
    warnings.filterwarnings("ignore", message=".*NotAppKeyWarning.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def message_template(message_type: str, **payload: object) -> str:
    _quiet_openleadr()
    from openleadr.messaging import create_message

    text: str = create_message(message_type, **payload)
    return text


def http_request(port: int, service: str, body: bytes) -> bytes:
    head = (
        f"POST {PREFIX}/{service} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def poll_requests(port: int, ids: Sequence[str]) -> list[bytes]:
    """One raw HTTP request per VEN: the oadrPoll is rendered once and the venID swapped in."""
    template = message_template("oadrPoll", ven_id=VEN_ID_MARK)
    return [
        http_request(port, "OadrPoll", template.replace(VEN_ID_MARK, ven_id).encode())
        for ven_id in ids
    ]


def registration_bodies(ids: Sequence[str]) -> list[bytes]:
    template = message_template(
        "oadrCreatePartyRegistration",
        request_id="bench-request",
        ven_id=VEN_ID_MARK,
        ven_name=VEN_ID_MARK,
        http_pull_model=True,
        xml_signature=False,
        report_only=False,
        profile_name="2.0b",
        transport_name="simpleHttp",
    )
    return [template.replace(VEN_ID_MARK, ven_id).encode() for ven_id in ids]


# --- raw HTTP client --------------------------------------------------------------------------
class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight at a time."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result((int(head[9:12]), body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        assert self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, "127.0.0.1", port)
    assert isinstance(protocol, Connection)
    return protocol


class Pool:
    """Keep-alive connections for the open loop: reuse an idle one, else open up to ``limit``."""

    def __init__(self, port: int, limit: int) -> None:
        self._port = port
        self._limit = limit
        self._idle: deque[Connection] = deque()
        self._waiting: deque[asyncio.Future[Connection]] = deque()
        self.opened = 0

    async def acquire(self) -> Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self.opened -= 1
        if self.opened < self._limit:
            self.opened += 1
            try:
                return await connect(self._port)
            except OSError:
                self.opened -= 1
                raise
        waiter: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await waiter

    def release(self, conn: Connection) -> None:
        if conn.closed:
            self.opened -= 1
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()


@dataclass
class Check:
    """What every answer must be: HTTP 200 holding ``marker`` (and a signature when signed)."""

    marker: bytes
    signed: bool
    errors: Counter[str] = field(default_factory=Counter)
    first_bad: str | None = None

    def __call__(self, status: int, body: bytes) -> None:
        if status == 200 and self.marker in body and (b"SignatureValue" in body) == self.signed:
            return
        self.errors[f"http {status}"] += 1
        if self.first_bad is None:
            self.first_bad = body[:600].decode("utf-8", "replace")
            log(f"unexpected answer (HTTP {status}): {self.first_bad}")

    def fail(self, err: BaseException) -> None:
        self.errors[type(err).__name__] += 1
        if self.first_bad is None:
            self.first_bad = repr(err)
            log(f"request failed: {err!r}")

    @property
    def total(self) -> int:
        return sum(self.errors.values())


@dataclass
class Measured:
    latencies: list[float]  # seconds, sorted
    seconds: float
    server_cpu: float  # seconds of the VTN's CPU in the window
    client_cpu: float  # seconds of this process's CPU in the window
    errors: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        return 1000 * percentile(self.latencies, q)

    def summary(self) -> str:
        return (
            f"polls_per_s={self.rate:.0f} p50_ms={self.ms(0.50):.2f} p99_ms={self.ms(0.99):.2f} "
            f"vtn_cpu={100 * self.server_cpu / self.seconds:.0f}% errors={self.errors}"
        )


async def closed_loop(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    warmup: float,
    seconds: float,
    server_pid: int,
    check: Check,
) -> Measured:
    """``concurrency`` connections, each sending the next VEN's poll when its answer is in."""
    conns = [await connect(port) for _ in range(concurrency)]
    counter = itertools.count()
    count = len(requests)
    start = time.perf_counter() + warmup
    end = start + seconds
    latencies: list[float] = []
    cpu: dict[str, float] = {}

    async def worker(conn: Connection) -> None:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            try:
                status, body = await conn.request(requests[next(counter) % count])
            except ConnectionError as err:
                check.fail(err)
                conn = await connect(port)
                continue
            done = time.perf_counter()
            check(status, body)
            if start <= done < end:
                latencies.append(done - sent)

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu["server"], cpu["client"] = process_cpu(server_pid), time.process_time()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu["server"] = process_cpu(server_pid) - cpu["server"]
        cpu["client"] = time.process_time() - cpu["client"]

    errors_before = check.total
    await asyncio.gather(sample_cpu(), *(worker(conn) for conn in conns))
    for conn in conns:
        conn.close()
    latencies.sort()
    return Measured(latencies, seconds, cpu["server"], cpu["client"], check.total - errors_before)


@dataclass
class FixedRate:
    offered: float  # polls/s scheduled
    achieved: float  # answers/s completed within the window
    window: list[float]  # latency of each poll scheduled in the window, sorted; inf: no answer
    warmup: list[float]  # the same for the polls scheduled in the warm-up
    unanswered: int  # polls scheduled in the window without an answer (failed or late)
    server_cpu: float  # seconds of the gateway's CPU in the window
    client_cpu: float
    connections: int


async def fixed_rate(
    port: int,
    requests: Sequence[bytes],
    interval: float,
    warmup: float,
    seconds: float,
    max_connections: int,
    server_pid: int,
    check: Check,
) -> FixedRate:
    """Every VEN polls every ``interval`` s at its own offset (open loop); a poll's latency runs
    from its scheduled time. Polls scheduled in the first ``warmup`` seconds are kept apart; a
    poll still unanswered ``DRAIN_SECONDS`` after the window counts as an infinite latency."""
    count = len(requests)
    period = interval / count
    pool = Pool(port, max_connections)
    t0 = time.perf_counter() + 0.2
    start = t0 + warmup
    end = start + seconds
    total = int((warmup + seconds) / period)
    answered: dict[int, tuple[float, float]] = {}  # poll number: scheduled, answered
    tasks: set[asyncio.Task[None]] = set()

    async def poll(number: int, scheduled: float) -> None:
        try:
            conn = await pool.acquire()
            try:
                status, body = await conn.request(requests[number % count])
            finally:
                pool.release(conn)
        except (ConnectionError, OSError) as err:
            check.fail(err)
            return
        check(status, body)
        if status == 200:
            answered[number] = (scheduled, time.perf_counter())

    cpu_start: tuple[float, float] | None = None
    number = 0
    while number < total:
        now = time.perf_counter()
        due = t0 + number * period
        if due > now:
            await asyncio.sleep(due - now)
            continue
        if cpu_start is None and now >= start:
            cpu_start = (process_cpu(server_pid), time.process_time())
        while number < total and t0 + number * period <= now:
            task = asyncio.create_task(poll(number, t0 + number * period))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            number += 1
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    cpu_end = (process_cpu(server_pid), time.process_time())
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    pool.close()
    assert cpu_start is not None
    first_in_window = math.ceil(warmup / period)
    window: list[float] = []
    warm: list[float] = []
    for n in range(total):
        scheduled, done = answered.get(n, (0.0, math.inf))
        (window if n >= first_in_window else warm).append(done - scheduled)
    window.sort()
    warm.sort()
    return FixedRate(
        offered=count / interval,
        achieved=sum(1 for _, done in answered.values() if start <= done < end) / seconds,
        window=window,
        warmup=warm,
        unanswered=sum(1 for latency in window if latency == math.inf),
        server_cpu=cpu_end[0] - cpu_start[0],
        client_cpu=cpu_end[1] - cpu_start[1],
        connections=pool.opened,
    )


# --- the two VTNs -----------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gateway(
    args: argparse.Namespace, workdir: Path, signing: tuple[Path, Path] | None
) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(workdir / "data"),
        "GATEWAY_REDIS_URL": args.redis_url,
        "GATEWAY_REDIS_PREFIX": args.prefix,
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(port),
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_EXECUTOR_ENABLED": "false",
    }
    if signing is not None:
        env["GATEWAY_VTN_SIGNING_CERT"], env["GATEWAY_VTN_SIGNING_KEY"] = map(str, signing)
    if args.gateway_command:
        command = [*shlex.split(args.gateway_command), "run"]
    else:
        executable = shutil.which("oadr-gateway", path=str(Path(sys.executable).parent))
        assert executable is not None, "oadr-gateway is not installed in this venv"
        command = [executable, "run"]
    # cwd: the temporary directory, so that no config/gateway.toml is picked up.
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=sys.stderr)
    return Server("gateway", port, process)


def start_bare(signing: tuple[Path, Path] | None) -> Server:
    port = free_port()
    command = [sys.executable, __file__, "--serve-bare", str(port)]
    if signing is not None:
        command += ["--bare-cert", str(signing[0]), "--bare-key", str(signing[1])]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    return Server("bare", port, process)


async def serve_bare(port: int, cert: str | None, key: str | None) -> None:
    """openleadr's own VTN: accepts every registration, answers polls from its (empty) queue."""
    import logging

    _quiet_openleadr()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from openleadr import OpenADRServer

    # openleadr's client module sets its logger to INFO on import (a line per message); the
    # gateway runs at WARNING, so the bare VTN does too.
    logging.getLogger("openleadr").setLevel(logging.WARNING)
    registrations: dict[str, str] = {}

    def ven_lookup(ven_id: str) -> dict[str, object] | None:
        registration_id = registrations.get(ven_id)
        if registration_id is None:
            return None
        return {"ven_id": ven_id, "ven_name": ven_id, "registration_id": registration_id}

    def on_create_party_registration(info: dict[str, object]) -> tuple[str, str]:
        ven_id = str(info.get("ven_id") or info["ven_name"])
        registrations[ven_id] = f"reg-{ven_id}"
        return ven_id, registrations[ven_id]

    server = OpenADRServer(
        vtn_id=BARE_VTN_ID,
        cert=cert,
        key=key,
        http_port=port,
        http_host="127.0.0.1",
        ven_lookup=ven_lookup,
        show_fingerprint=False,
    )
    server.add_handler("on_create_party_registration", on_create_party_registration)
    await server.run()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


async def wait_ready(server: Server, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited with {server.process.returncode}")
        try:
            if server.name == "gateway":
                async with session.get(f"http://127.0.0.1:{server.port}/health") as response:
                    if response.status == 200:
                        return
            else:
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.close()
                return
        except (aiohttp.ClientError, OSError):
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{server.name} did not come up in {READY_SECONDS:.0f} s")
        await asyncio.sleep(0.2)


async def setup_vens(
    server: Server, session: aiohttp.ClientSession, ids: Sequence[str]
) -> tuple[float, float]:
    """Provision (gateway only, admin API) and register every VEN; returns both durations."""
    semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)
    base = f"http://127.0.0.1:{server.port}"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def provision(ven_id: str) -> None:
        async with (
            semaphore,
            session.post(
                f"{base}/api/vens", json={"name": ven_id, "ven_id": ven_id}, headers=headers
            ) as response,
        ):
            if response.status != 201:
                raise BenchError(
                    f"POST /api/vens {ven_id}: {response.status} {await response.text()}"
                )

    async def register(body: bytes) -> None:
        async with (
            semaphore,
            session.post(
                f"{base}{PREFIX}/EiRegisterParty",
                data=body,
                headers={"Content-Type": "application/xml"},
            ) as response,
        ):
            text = await response.text()
            if response.status != 200 or "registrationID" not in text or ">200<" not in text:
                raise BenchError(f"registration at {server.name}: {response.status} {text[:600]}")

    provision_s = 0.0
    if server.name == "gateway":
        began = time.perf_counter()
        await asyncio.gather(*(provision(ven_id) for ven_id in ids))
        provision_s = time.perf_counter() - began
        log(f"gateway: provisioned {len(ids)} VENs in {provision_s:.1f} s")
    began = time.perf_counter()
    await asyncio.gather(*(register(body) for body in registration_bodies(ids)))
    register_s = time.perf_counter() - began
    log(f"{server.name}: registered {len(ids)} VENs in {register_s:.1f} s")

    # A 2.0b VTN owes a registered VEN its METADATA oadrRegisterReport on the first poll with
    # nothing else for it (the gateway sends it; bare openleadr sends none): each VEN takes it
    # once here, as a real VEN does, so that the measured polls are the steady state's.
    async def first_poll(ven_id: str) -> None:
        body = message_template("oadrPoll", ven_id=ven_id).encode()
        async with (
            semaphore,
            session.post(f"{base}{PREFIX}/OadrPoll", data=body,
                         headers={"Content-Type": "application/xml"}) as response,
        ):  # fmt: skip
            await response.read()

    await asyncio.gather(*(first_poll(ven_id) for ven_id in ids))
    return provision_s, register_s


# --- profiling --------------------------------------------------------------------------------
async def py_spy_window(pid: int, output: Path, delay: float, duration: float) -> None:
    """Sample the process with py-spy from ``delay`` s on for ``duration`` s (raw stacks), then
    print the summary."""
    await asyncio.sleep(delay)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(output)]
    # Blocking sampling (py-spy pauses the process for each sample): --nonblocking reads torn
    # stacks under this load and misattributes most of the time.
    command += ["--duration", str(max(1, round(duration))), "--rate", "100"]
    log(f"profiling the gateway: {' '.join(command)}")
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    await process.wait()
    summarize_profile(output)


def summarize_profile(raw: Path, top: int = 25) -> None:
    """Own and inclusive shares per function of the event loop thread's samples, from py-spy's
    collapsed stacks (line numbers dropped, so a function's lines add up)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    loop_samples = other_samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if "run_forever" not in stack:  # another thread: aiosqlite's worker, redis, ...
            other_samples += count
            continue
        loop_samples += count
        frames = [frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";") if frame]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not loop_samples:
        log(f"profile {raw}: no event loop samples")
        return
    log(
        f"profile {raw}: {loop_samples} samples of the event loop thread "
        f"(other threads: {other_samples} samples, not counted below)"
    )
    for title, table in (("own", own), ("inclusive", inclusive)):
        print(f"--- event loop thread, top {top} by {title} time ---", file=sys.stderr)
        rows = [(frame, count) for frame, count in table.most_common() if count < loop_samples]
        for frame, count in rows[:top]:  # frames in every sample (the loop itself) left out
            print(f"{100 * count / loop_samples:6.1f}%  {frame}", file=sys.stderr)


# --- runs -------------------------------------------------------------------------------------
async def run_closed(
    args: argparse.Namespace, workdir: Path, signing: tuple[Path, Path] | None
) -> None:
    ids = ven_ids(args.vens or 1000)
    signed = signing is not None
    gateway = start_gateway(args, workdir, signing)
    bare = start_bare(signing)
    servers = [gateway, bare]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            for server in servers:
                await wait_ready(server, session)
            for server in servers:
                await setup_vens(server, session, ids)
        results: dict[str, Measured] = {}
        for server in servers:
            requests = poll_requests(server.port, ids)
            profile = None
            if args.profile is not None and server is gateway:
                profile = asyncio.create_task(
                    py_spy_window(
                        server.process.pid,
                        args.profile.with_suffix(".raw.txt"),
                        args.warmup,
                        args.seconds,
                    )
                )
            log(
                f"{server.name}: closed loop, {len(ids)} VENs, concurrency {args.concurrency}, "
                f"{args.warmup:.0f} s warm-up + {args.seconds:.0f} s (host load {load()})"
            )
            check = Check(b"oadrResponse", signed)
            results[server.name] = measured = await closed_loop(
                server.port,
                requests,
                args.concurrency,
                args.warmup,
                args.seconds,
                server.process.pid,
                check,
            )
            log(
                f"{server.name}: {measured.summary()} "
                f"load-generator cpu={100 * measured.client_cpu / measured.seconds:.0f}%"
            )
            if profile is not None:
                await profile
    finally:
        for server in servers:
            server.stop()
    gw, base = results["gateway"], results["bare"]
    ratio = gw.rate / base.rate if base.rate else float("inf")
    target = SIGNED_TARGET if signed else UNSIGNED_TARGET
    verdict = "PASS" if ratio >= target else "FAIL"
    mode = "rsa-signed" if signed else "unsigned"
    print(
        f"vtn_poll mode={mode} vens={len(ids)} concurrency={args.concurrency} "
        f"seconds={args.seconds:g} client={CLIENT} "
        f"gateway: {gw.summary()} | bare-openleadr: {base.summary()} | "
        f"ratio={ratio:.2f}x target>={target:g}x: {verdict}"
        + (" (profiled: gateway figures include py-spy overhead)" if args.profile else ""),
        flush=True,
    )


async def run_fixed(
    args: argparse.Namespace, workdir: Path, signing: tuple[Path, Path] | None
) -> None:
    ids = ven_ids(args.vens or 10_000)
    gateway = start_gateway(args, workdir, signing)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            await wait_ready(gateway, session)
            provision_s, register_s = await setup_vens(gateway, session, ids)
        requests = poll_requests(gateway.port, ids)
        profile = None
        if args.profile is not None:  # the window opens 0.2 s after the first poll's time
            profile = asyncio.create_task(
                py_spy_window(
                    gateway.process.pid,
                    args.profile.with_suffix(".raw.txt"),
                    args.warmup + 0.2,
                    args.seconds,
                )
            )
        log(
            f"gateway: fixed rate, {len(ids)} VENs every {args.interval:g} s "
            f"({len(ids) / args.interval:.0f} polls/s), {args.warmup:g} s warm-up "
            f"(the first {args.interval:g} s hold every VEN's first poll) + {args.seconds:g} s "
            f"(host load {load()})"
        )
        check = Check(b"oadrResponse", signing is not None)
        result = await fixed_rate(
            gateway.port,
            requests,
            args.interval,
            args.warmup,
            args.seconds,
            args.connections,
            gateway.process.pid,
            check,
        )
        warm = result.warmup
        log(
            f"gateway warm-up: {len(warm)} polls, "
            f"p50_ms={1000 * percentile(warm, 0.5):.1f} p99_ms={1000 * percentile(warm, 0.99):.1f} "
            f"max_ms={1000 * warm[-1]:.1f}"
        )
        log(f"load-generator cpu={100 * result.client_cpu / args.seconds:.0f}%")
        if profile is not None:
            await profile
    finally:
        gateway.stop()
    window = result.window
    p50, p99 = 1000 * percentile(window, 0.50), 1000 * percentile(window, 0.99)
    verdict = "PASS" if p99 < P99_TARGET_MS and not result.unanswered else "FAIL"
    mode = "fixed-rate" + ("-rsa-signed" if signing is not None else "")
    print(
        f"vtn_poll mode={mode} target=gateway vens={len(ids)} interval={args.interval:g}s "
        f"warmup={args.warmup:g}s seconds={args.seconds:g} client={CLIENT} "
        f"connections={result.connections} offered_per_s={result.offered:.0f} "
        f"achieved_per_s={result.achieved:.0f} p50_ms={p50:.2f} p99_ms={p99:.2f} "
        f"max_ms={1000 * window[-1]:.1f} vtn_cpu={100 * result.server_cpu / args.seconds:.0f}% "
        f"unanswered={result.unanswered}/{len(window)} errors={check.total} "
        f"| setup: provision {provision_s:.1f} s, register {register_s:.1f} s "
        f"| target p99<{P99_TARGET_MS:g}ms: {verdict}" + (" (profiled)" if args.profile else ""),
        flush=True,
    )


async def cleanup_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        for chunk in range(0, len(keys), 1000):
            await redis.delete(*keys[chunk : chunk + 1000])
    finally:
        await redis.aclose()


async def main_async(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="vtn-poll-bench-"))
    try:
        signing = None
        if args.sign == "rsa":
            from gateway.security.certs import init_dev_pki

            pki = init_dev_pki(workdir / "pki", ven_names=["bench"], key_type="rsa")
            signing = (pki.vtn.cert, pki.vtn.key)
            log(f"RSA-2048 signing certificate {pki.vtn.fingerprint}")
        if args.fixed_rate:
            await run_fixed(args, workdir, signing)
        else:
            await run_closed(args, workdir, signing)
    finally:
        await cleanup_redis(args.redis_url, args.prefix)
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sign", choices=("none", "rsa"), default="none")
    parser.add_argument(
        "--vens", type=int, default=None, help="simulated VENs (default 1000; --fixed-rate 10000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="measured seconds (default 15; fixed rate 30)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the window (default 3; fixed rate: one --interval)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop connections")
    parser.add_argument("--fixed-rate", action="store_true", help="open loop, gateway only")
    parser.add_argument("--interval", type=float, default=10.0, help="fixed rate: poll interval")
    parser.add_argument(
        "--connections", type=int, default=1000, help="fixed rate: most keep-alive connections"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="PATH",
        help="py-spy the gateway while measured; raw stacks to PATH.raw.txt",
    )
    parser.add_argument(
        "--gateway-command",
        default=None,
        metavar="CMD",
        help="start the gateway with CMD run instead of the venv's oadr-gateway run",
    )
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-cert", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-key", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 30.0 if args.fixed_rate else 15.0
    if args.warmup is None:
        args.warmup = args.interval if args.fixed_rate else 3.0
    args.prefix = f"bench-vtn:{uuid.uuid4().hex[:8]}:"
    return args


def main() -> None:
    args = parse_args()
    if args.serve_bare is not None:
        asyncio.run(serve_bare(args.serve_bare, args.bare_cert, args.bare_key))
        return
    try:
        asyncio.run(main_async(args))
    except BenchError as err:
        log(f"vtn_poll: {err}")
        sys.exit(1)


if __name__ == "__main__":
    main()
