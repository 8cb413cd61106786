"""`oadr-gateway run` starts only when it can serve, says in one line why it cannot, and ends
with exit code 0 within 10 s of SIGTERM or SIGINT whatever it is doing."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as sync_redis

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.e2e.test_cli import GATEWAY, Gateway, _clean_env
from tests.support import free_port

pytestmark = pytest.mark.e2e

TOKEN = "lifecycle-token-0123456789"
# The bound the gateway promises, measured from the signal to the end of the process.
EXIT_BOUND_SECONDS = 10.0


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    sock = tmp_path / "data" / "redis.sock"  # an embedded Redis left by a failed test
    if sock.exists():
        client = sync_redis.Redis(unix_socket_path=str(sock))
        with contextlib.suppress(sync_redis.RedisError, OSError):
            client.shutdown(nosave=True)
        client.close()


def _env(port: int, **extra: str) -> dict[str, str]:
    return _clean_env(GATEWAY_HTTP_PORT=str(port), GATEWAY_ADMIN_TOKEN=TOKEN, **extra)


def _start(workdir: Path, port: int, **extra: str) -> Gateway:
    gw = Gateway(workdir, port, _env(port, **extra))
    gw.wait_healthy()
    return gw


# How long a gateway may take to start and reach its first peer (database, utility VTN).
STARTUP_SECONDS = 45


def _stop_within_bound(gw: Gateway, sig: int = signal.SIGTERM) -> float:
    began = time.monotonic()
    code = gw.stop(sig)
    took = time.monotonic() - began
    assert code == 0, gw.log.read_text()
    assert took < EXIT_BOUND_SECONDS, f"{took:.1f} s\n{gw.log.read_text()}"
    return took


def _run_once(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args], cwd=workdir, env=_clean_env(**env), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


# --- start-up -------------------------------------------------------------------------------
def test_a_second_run_on_a_port_in_use_exits_at_once_naming_the_port(workdir: Path) -> None:
    port = free_port()
    first = _start(workdir, port)
    try:
        began = time.monotonic()
        second = _run_once(workdir, "run", GATEWAY_HTTP_PORT=str(port), GATEWAY_ADMIN_TOKEN=TOKEN)
        assert time.monotonic() - began < 20
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port} (http_port): address already in use" in (
            second.stderr
        )
        assert "serving on" not in second.stderr
        assert "executor" not in second.stderr  # nothing was started
        assert first.request("GET", "/health")[0] == 200  # the first one serves on
    finally:
        _stop_within_bound(first)


def test_a_vtn_port_in_use_is_named_and_nothing_is_started(workdir: Path) -> None:
    port, vtn_port = free_port(), free_port()
    with socket.create_server(("127.0.0.1", vtn_port)):
        result = _run_once(workdir, "run", GATEWAY_HTTP_PORT=str(port),
                           GATEWAY_VTN_PORT=str(vtn_port), GATEWAY_ADMIN_TOKEN=TOKEN)  # fmt: skip
    assert result.returncode == 1
    assert f"127.0.0.1:{vtn_port} (vtn_port): address already in use" in result.stderr
    assert not (workdir / "data" / "redis.sock").exists()  # no embedded Redis was started


def _the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """A start-up failure: exit code 1 and exactly one line on stderr, which is returned."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def _refused_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


@pytest.mark.parametrize("command", [("run",), ("db", "upgrade")])
def test_a_database_on_a_dead_port_is_one_line_naming_the_setting(
    workdir: Path, command: tuple[str, ...]
) -> None:
    url = f"postgresql://gw:s3cret-pw@127.0.0.1:{_refused_port()}/gateway"
    result = _run_once(workdir, *command, GATEWAY_DATABASE_URL=url, GATEWAY_ADMIN_TOKEN=TOKEN,
                       GATEWAY_HTTP_PORT=str(free_port()))  # fmt: skip
    line = _the_one_line(result)
    assert "database_url" in line
    assert "127.0.0.1" in line
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "***" in line
    assert "refused" in line.lower()


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs a PostgreSQL server")
@pytest.mark.parametrize("command", [("run",), ("db", "upgrade")])
def test_a_database_that_does_not_exist_is_one_line(
    workdir: Path, command: tuple[str, ...]
) -> None:
    assert POSTGRES_URL is not None
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_gateway_db"
    result = _run_once(workdir, *command, GATEWAY_DATABASE_URL=url, GATEWAY_ADMIN_TOKEN=TOKEN,
                       GATEWAY_HTTP_PORT=str(free_port()))  # fmt: skip
    line = _the_one_line(result)
    assert "database_url" in line
    assert 'database "no_such_gateway_db" does not exist' in line


def test_a_redis_on_a_dead_port_is_one_line_naming_the_setting(workdir: Path) -> None:
    url = f"redis://:r3dis-pw@127.0.0.1:{_refused_port()}/0"
    result = _run_once(workdir, "run", GATEWAY_REDIS_URL=url, GATEWAY_ADMIN_TOKEN=TOKEN,
                       GATEWAY_HTTP_PORT=str(free_port()))  # fmt: skip
    line = _the_one_line(result)
    assert "redis_url" in line
    assert "r3dis-pw" not in result.stderr
    assert "serving on" not in result.stderr


def test_serving_on_names_both_urls_once_the_dependencies_answered(workdir: Path) -> None:
    port = free_port()
    gw = _start(workdir, port)
    try:
        log = gw.log.read_text()
        (line,) = [line for line in log.splitlines() if "serving on" in line]
        assert f"http://127.0.0.1:{port}" in line
        assert f"OpenADR VTN at http://127.0.0.1:{port}/OpenADR2/Simple/2.0b" in line
        assert log.index("database sqlite") < log.index("serving on")
        # Once serving, the start-up heap is out of the collector's reach (gateway.heap).
        assert log.index("serving on") < log.index("start-up heap frozen")
    finally:
        _stop_within_bound(gw)


# --- shutdown -------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_gateway_exits_0_on_a_signal(workdir: Path, sig: int) -> None:
    gw = _start(workdir, free_port())
    time.sleep(1.0)  # its loops are between rounds
    _stop_within_bound(gw, sig)
    assert not (workdir / "data" / "redis.sock").exists()  # the embedded Redis went with it


def test_a_gateway_running_an_event_exits_0_on_sigterm(workdir: Path) -> None:
    port = free_port()
    gw = _start(workdir, port, GATEWAY_CADENCE_SECONDS="0.2", GATEWAY_REDIS_URL=REDIS_URL,
                GATEWAY_REDIS_PREFIX=f"lifecycle:{port}:")  # fmt: skip
    try:
        assert gw.request("POST", "/api/devices", {"id": "d1"}, TOKEN)[0] == 201
        start = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
        status, invitation = gw.request(
            "POST", "/api/invitations",
            {"event_time": start, "duration_minutes": 1, "load_kwh": 1, "devices": ["d1"]},
            TOKEN,
        )  # fmt: skip
        assert status == 201
        path = f"/api/invitations/{invitation['id']}/answers"
        answer = {"device_id": "d1", "answer": "YES", "committed_kw": 1.0}
        status, answered = gw.request("POST", path, answer, TOKEN)
        assert (status, answered["status"]) == (201, "scheduled")
        deadline = time.monotonic() + 20
        event: dict[str, object] = {}
        while time.monotonic() < deadline:
            event = gw.request("GET", f"/api/events/{answered['event_id']}")[1]
            if event["status"] == "active":
                break
            time.sleep(0.2)
        assert event["status"] == "active", event
        time.sleep(1.0)  # samples are being written every 0.2 s
    finally:
        _stop_within_bound(gw)
        client = sync_redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"lifecycle:{port}:*"))
        if keys:
            client.delete(*keys)
        client.close()


class SilentServer:
    """Accepts connections and never answers: a peer that hangs every request sent to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        await reader.read(-1)  # never answers; ends when the peer goes away
        writer.close()

    def __enter__(self) -> SilentServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", self.port), self._loop
        ).result(5)
        return self

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.sleep(0)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def test_a_gateway_waiting_on_a_utility_that_never_answers_exits_0_on_sigterm(
    workdir: Path,
) -> None:
    with SilentServer() as utility:
        port = free_port()
        gw = _start(
            workdir, port,
            GATEWAY_UPSTREAM__VTN_URL=f"http://127.0.0.1:{utility.port}/OpenADR2/Simple/2.0b",
            GATEWAY_UPSTREAM__VEN_NAME="gateway-1",
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while utility.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        if utility.connections == 0:
            gw.stop(signal.SIGKILL)  # not left running into the next test
        assert utility.connections > 0  # the upstream VEN is inside a request that never ends
        _stop_within_bound(gw)


def test_a_gateway_starting_on_a_database_that_never_answers_exits_0_on_sigterm(
    workdir: Path,
) -> None:
    with SilentServer() as database:
        port = free_port()
        gw = Gateway(workdir, port, _env(port, GATEWAY_DATABASE_URL=(
            f"postgresql://gw@127.0.0.1:{database.port}/gateway")))  # fmt: skip
        # Start-up imports for seconds, many more on a machine busy with the rest of the
        # suite: the wait ends as soon as the gateway connects.
        deadline = time.monotonic() + STARTUP_SECONDS
        while database.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        try:
            assert database.connections > 0  # start-up is waiting for the database
            assert gw.proc.poll() is None
        except AssertionError:
            gw.stop(signal.SIGKILL)  # not left running into the next test
            raise
        _stop_within_bound(gw)
        assert "serving on" not in gw.log.read_text()
