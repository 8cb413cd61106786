"""Benchmark of the OpenADR 3 API's hottest read: VEN clients reading their events
(``GET /events``), against bare aiohttp returning a fixed body of the same size.

Usage (from the repository root, in the project's venv)::

    python bench/oadr3_events.py                 # 1,000 VEN clients, 15 s each target
    python bench/oadr3_events.py --vens 100 --seconds 5   # quick check

The gateway runs as ``oadr-gateway run`` (a subprocess: fresh SQLite database in a temporary
directory, or with ``--postgres`` a fresh PostgreSQL database; Redis under a fresh prefix of
database 15, executor off, log level WARNING), importing ``gateway`` from this checkout (its
root first on ``PYTHONPATH``), whatever the venv's install points at. Setup,
through the admin API and the 3.x API: one program open to all, ``--vens`` VEN clients, each
with a token, a ven object and one resource, and one event made by a business-logic client
for the program, so each VEN's ``GET /events`` answers one event. The bare target is an
aiohttp app in its own process answering every request with the gateway's answer for the
first VEN. This process is the load generator (aiohttp client, keep-alive, ``--concurrency``
requests in flight, each for the next VEN with its own token); the targets are measured one
after the other. Every answer is checked (200, one event).

stdout gets one line: requests/s and p99 of both, their ratio and the target (>= 0.5x).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ADMIN_TOKEN = "bench-admin-token-" + uuid.uuid4().hex[:8]
ROOT = Path(__file__).resolve().parents[1]  # the checkout whose gateway is measured
BASE = "/openadr3/3.1.0"
TARGET_RATIO = 0.5
SETUP_CONCURRENCY = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as resp:
                if resp.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not answer within 60 s")


async def bounded(n: int, jobs: list) -> list:  # type: ignore[type-arg]
    gate = asyncio.Semaphore(n)

    async def one(job):  # type: ignore[no-untyped-def]
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


async def setup(session: aiohttp.ClientSession, url: str, vens: int) -> list[str]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def client(client_id: str, role: str) -> str:
        async with session.post(f"{url}/api/oadr3/clients", headers=admin,
                                json={"client_id": client_id, "role": role}) as resp:  # fmt: skip
            created = await resp.json()
            assert resp.status == 201, created
        form = {"grant_type": "client_credentials", "client_id": client_id,
                "client_secret": created["client_secret"]}  # fmt: skip
        async with session.post(f"{url}{BASE}/auth/token", data=form) as resp:
            return str((await resp.json())["access_token"])

    async def ven(n: int) -> str:
        token = await client(f"ven-{n}", "VEN")
        auth = {"Authorization": f"Bearer {token}"}
        body = {"objectType": "VEN_VEN_REQUEST", "venName": f"site-{n}"}
        async with session.post(f"{url}{BASE}/vens", json=body, headers=auth) as resp:
            site = await resp.json()
        body = {"resourceName": "meter", "venID": site["id"]}
        async with session.post(f"{url}{BASE}/resources", json=body, headers=auth) as resp:
            assert resp.status == 201, await resp.text()
        return token

    program = {"id": "bench", "name": "Bench", "market_context": "urn:bench", "membership": "all"}
    async with session.post(f"{url}/api/programs", json=program, headers=admin) as resp:
        assert resp.status == 201, await resp.text()
    started = time.monotonic()
    tokens = await bounded(SETUP_CONCURRENCY, [ven(n) for n in range(vens)])
    bl = {"Authorization": f"Bearer {await client('bl', 'BL')}"}
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    event = {"programID": "bench", "intervalPeriod": {"start": start, "duration": "PT30M"},
             "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}]}  # fmt: skip
    async with session.post(f"{url}{BASE}/events", json=event, headers=bl) as resp:
        assert resp.status == 201, await resp.text()
    print(f"setup: {vens} VEN clients in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return tokens


async def measure(
    session: aiohttp.ClientSession, url: str, tokens: list[str], args: argparse.Namespace
) -> tuple[float, float, int]:
    """(requests/s, p99 ms, errors) over the window after a warm-up."""
    cycle = itertools.cycle(tokens)
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + args.warmup + args.seconds
    window_start = time.monotonic() + args.warmup

    async def worker() -> None:
        nonlocal errors
        while (now := time.monotonic()) < stop_at:
            headers = {"Authorization": f"Bearer {next(cycle)}"}
            async with session.get(f"{url}{BASE}/events", headers=headers) as resp:
                body = await resp.read()
            done = time.monotonic()
            if resp.status != 200 or len(json.loads(body)) != 1:
                errors += 1
            if now >= window_start:
                latencies.append(done - now)

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
    return len(latencies) / args.seconds, p99, errors


def serve_bare(port: int, body: bytes) -> None:
    from aiohttp import web

    async def events(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(f"{BASE}/events", events)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_gateway(
    workdir: Path, port: int, redis_url: str, database_url: str | None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **({"GATEWAY_DATABASE_URL": database_url} if database_url else {}),
        "GATEWAY_DATA_DIR": str(workdir / "data"),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_REDIS_PREFIX": f"bench-oa3:{uuid.uuid4().hex[:8]}:",
        "GATEWAY_HTTP_PORT": str(port),
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_EXECUTOR_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    executable = shutil.which("oadr-gateway", path=str(Path(sys.executable).parent))
    assert executable is not None, "oadr-gateway is not installed in this venv"
    # cwd: the temporary directory, so that no config/gateway.toml is picked up.
    return subprocess.Popen([executable, "run"], env=env, cwd=workdir, stdout=sys.stderr)


def start_bare(port: int, body: bytes) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve-bare", str(port), "--body", body.decode()]
    return subprocess.Popen(command)


async def postgres(admin_url: str, name: str, create: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE "{name}"')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-oadr3-"))
    port = free_port()
    database_url = None
    name = f"bench_oa3_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        await postgres(args.postgres, name, create=True)
        database_url = args.postgres.rsplit("/", 1)[0] + "/" + name
    gateway = start_gateway(workdir, port, args.redis_url, database_url)
    bare: subprocess.Popen[bytes] | None = None
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"http://127.0.0.1:{port}"
            await wait_ready(session, f"{url}/health")
            tokens = await setup(session, url, args.vens)
            first = {"Authorization": f"Bearer {tokens[0]}"}
            async with session.get(f"{url}{BASE}/events", headers=first) as resp:
                body = await resp.read()
            gw = await measure(session, url, tokens, args)
            gateway.send_signal(signal.SIGTERM)
            bare_port = free_port()
            bare = start_bare(bare_port, body)
            bare_url = f"http://127.0.0.1:{bare_port}"
            await wait_ready(session, f"{bare_url}{BASE}/events")
            fixed = await measure(session, bare_url, tokens, args)
    finally:
        for process in (gateway, bare):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)
        if args.postgres:
            await postgres(args.postgres, name, create=False)
    ratio = gw[0] / fixed[0] if fixed[0] else float("nan")
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(
        f"oadr3_events db={'postgres' if args.postgres else 'sqlite'} vens={args.vens} "
        f"concurrency={args.concurrency} seconds={args.seconds} "
        f"gateway: requests_per_s={gw[0]:.0f} p99_ms={gw[1]:.2f} errors={gw[2]} | "
        f"bare-aiohttp: requests_per_s={fixed[0]:.0f} p99_ms={fixed[1]:.2f} errors={fixed[2]} | "
        f"ratio={ratio:.2f}x target>={TARGET_RATIO}x: {verdict}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vens", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server to make a database in "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test); default: SQLite",
    )  # fmt: skip
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--body", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_bare:
        serve_bare(parsed.serve_bare, parsed.body.encode())
    else:
        asyncio.run(main(parsed))
