"""Benchmark of ``oadr-gateway run --workers N``: oadrPoll throughput with one worker and with
N, in one run, and their ratio.

Usage (from the repository root, in the project's venv; Redis at 127.0.0.1:6379)::

    python bench/workers.py                 # 1 worker, then 2: closed loop, 1000 VENs
    python bench/workers.py --pipeline 1    # one request in flight per connection

Each configuration gets a fresh gateway (``oadr-gateway run`` for one worker, ``oadr-gateway
run --workers N`` for N) on a new SQLite database in a temporary directory, Redis under a fresh
prefix, the executor off and logging at WARNING; its VENs are provisioned and registered as in
``vtn_poll.py``, then polled in a closed loop from this process (the load generator). The
gateway's CPU is summed over the pool and its workers.

The load generator shares the machine with the workers: on 2 cores, the workers can only have
what it leaves them. So it keeps its own cost per poll low: each connection sends
``--pipeline`` polls at once (HTTP/1.1 pipelining; the gateway answers them in order) and
sends the next batch when they are answered. Both configurations are measured the same way.

Progress goes to stderr; stdout gets one result line with both figures and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
import vtn_poll as vp  # the sibling script: one VTN setup, one message builder

RATIO_TARGET = 1.6
CLIENT = "raw-http1.1-keepalive-pipelined-separate-process"


def tree_cpu(pid: int) -> float:
    """CPU seconds of the process and its children (the pool and its workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += vp.process_cpu(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(int(child) for child in children)
    return total


class PipelinedConnection(vp.Connection):
    """``vp.Connection`` with ``count`` requests in flight, answered in order."""

    async def batch(self, data: Sequence[bytes]) -> list[tuple[int, bytes]]:
        answers = []
        assert self._transport is not None
        self._transport.write(b"".join(data))
        for _ in data:
            answers.append(await self._next())
        return answers

    async def _next(self) -> tuple[int, bytes]:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.data_received(b"")  # an answer may be buffered already
        return await waiter


async def connect(port: int) -> PipelinedConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(PipelinedConnection, "127.0.0.1", port)
    assert isinstance(protocol, PipelinedConnection)
    return protocol


@dataclass
class Result:
    workers: int
    measured: vp.Measured

    def summary(self) -> str:
        return f"workers={self.workers} {self.measured.summary()}"


async def closed_loop(
    port: int, requests: Sequence[bytes], args: argparse.Namespace, pid: int, check: vp.Check
) -> vp.Measured:
    conns = [await connect(port) for _ in range(args.concurrency)]
    counter = itertools.count()
    count = len(requests)
    start = time.perf_counter() + args.warmup
    end = start + args.seconds
    latencies: list[float] = []
    cpu: dict[str, float] = {}

    async def loop(conn: PipelinedConnection) -> None:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            batch = [requests[next(counter) % count] for _ in range(args.pipeline)]
            try:
                answers = await conn.batch(batch)
            except ConnectionError as err:
                check.fail(err)
                conn = await connect(port)
                continue
            done = time.perf_counter()
            for status, body in answers:
                check(status, body)
            if start <= done < end:
                latencies.extend([done - sent] * len(answers))

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu["server"], cpu["client"] = tree_cpu(pid), time.process_time()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu["server"] = tree_cpu(pid) - cpu["server"]
        cpu["client"] = time.process_time() - cpu["client"]

    errors_before = check.total
    await asyncio.gather(sample_cpu(), *(loop(conn) for conn in conns))
    for conn in conns:
        conn.close()
    latencies.sort()
    return vp.Measured(
        latencies, args.seconds, cpu["server"], cpu["client"], check.total - errors_before
    )


async def measure(args: argparse.Namespace, workers: int, ids: Sequence[str]) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"workers-bench-{workers}-"))
    args.prefix = f"bench-workers:{uuid.uuid4().hex[:8]}:"
    if args.gateway_command:
        command = shlex.split(args.gateway_command)
    else:
        executable = shutil.which("oadr-gateway", path=str(Path(sys.executable).parent))
        assert executable is not None, "oadr-gateway is not installed in this venv"
        command = [executable]
    gateway = _start(args, workdir, command, workers)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            await vp.wait_ready(gateway, session)
            await vp.setup_vens(gateway, session, ids)
        vp.log(
            f"{workers} worker(s): closed loop, {len(ids)} VENs, {args.concurrency} connections "
            f"x {args.pipeline} in flight, {args.warmup:g} s warm-up + {args.seconds:g} s "
            f"(host load {vp.load()})"
        )
        check = vp.Check(b"oadrResponse", signed=False)
        requests = vp.poll_requests(gateway.port, ids)
        measured = await closed_loop(gateway.port, requests, args, gateway.process.pid, check)
        vp.log(
            f"{workers} worker(s): {measured.summary()} "
            f"load-generator cpu={100 * measured.client_cpu / measured.seconds:.0f}%"
        )
        return Result(workers, measured)
    finally:
        gateway.stop()
        await vp.cleanup_redis(args.redis_url, args.prefix)
        shutil.rmtree(workdir, ignore_errors=True)


def _start(args: argparse.Namespace, workdir: Path, command: list[str], workers: int) -> vp.Server:
    port = vp.free_port()
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(workdir / "data"),
        "GATEWAY_REDIS_URL": args.redis_url,
        "GATEWAY_REDIS_PREFIX": args.prefix,
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(port),
        "GATEWAY_ADMIN_TOKEN": vp.ADMIN_TOKEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_EXECUTOR_ENABLED": "false",
    }
    if args.database_url:
        env["GATEWAY_DATABASE_URL"] = args.database_url
    run = ["run"] if workers == 1 else ["run", "--workers", str(workers)]
    process = subprocess.Popen([*command, *run], env=env, cwd=workdir, stdout=sys.stderr)
    return vp.Server("gateway", port, process)  # the name vtn_poll provisions VENs for


async def main_async(args: argparse.Namespace) -> None:
    ids = vp.ven_ids(args.vens)
    one = await measure(args, 1, ids)
    many = await measure(args, args.workers, ids)
    ratio = many.measured.rate / one.measured.rate if one.measured.rate else float("inf")
    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
    print(
        f"workers vens={len(ids)} concurrency={args.concurrency} pipeline={args.pipeline} "
        f"seconds={args.seconds:g} client={CLIENT} cores={os.cpu_count()} "
        f"one: {one.summary()} | many: {many.summary()} | "
        f"ratio={ratio:.2f}x target>={RATIO_TARGET:g}x: {verdict}",
        flush=True,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="workers measured against one")
    parser.add_argument("--vens", type=int, default=1000, help="simulated VENs")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds, each")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--concurrency", type=int, default=32, help="connections")
    parser.add_argument("--pipeline", type=int, default=8, help="polls in flight per connection")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument(
        "--gateway-command", default=None, metavar="CMD", help="instead of the venv's oadr-gateway"
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    try:
        asyncio.run(main_async(args))
    except vp.BenchError as err:
        vp.log(f"workers: {err}")
        sys.exit(1)


if __name__ == "__main__":
    main()
