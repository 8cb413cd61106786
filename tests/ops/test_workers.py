"""``oadr-gateway run --workers 2``, a real process: two workers serve the admin and VTN ports,
a worker killed is started again while the other serves on, and SIGTERM ends them all with
exit code 0 within the bound."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from tests.e2e.test_cli import GATEWAY, _clean_env
from tests.support import free_port

pytestmark = pytest.mark.e2e

TOKEN = "workers-token-0123456789"
EXIT_BOUND_SECONDS = 10.0
START_SECONDS = 60.0  # two workers importing the gateway at once on a busy 2-core machine


class Pool:
    def __init__(self, workdir: Path, env: dict[str, str], *args: str) -> None:
        self.log = workdir / "gateway.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*GATEWAY, "run", *args], cwd=workdir, env=env, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> list[int]:
        """The pool's child processes, from /proc."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except FileNotFoundError:
            return []

    def wait_for(self, what: str, count: int, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(what) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"the pool exited: {self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} x {what!r} in {timeout} s: {self.text()}")
            time.sleep(0.1)


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def vtn_answers(port: int) -> bool:
    """The VTN port takes a connection and answers HTTP (an OpenADR error for a GET)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /OpenADR2/Simple/2.0b/OadrPoll HTTP/1.1\r\nHost: x\r\n\r\n")
        return conn.recv(12).startswith(b"HTTP/1.1")


@pytest.fixture
def pool_env(postgres_url: str) -> dict[str, str]:
    return _clean_env(
        GATEWAY_ADMIN_TOKEN=TOKEN,
        GATEWAY_DATABASE_URL=postgres_url,
        GATEWAY_REDIS_URL=REDIS_URL,
        GATEWAY_REDIS_PREFIX=f"test:workers:{free_port()}:",
    )


def test_two_workers_share_the_ports_are_restarted_and_stop_on_sigterm(
    tmp_path: Path, pool_env: dict[str, str]
) -> None:
    port, vtn_port = free_port(), free_port()
    env = {**pool_env, "GATEWAY_HTTP_PORT": str(port), "GATEWAY_VTN_PORT": str(vtn_port)}
    pool = Pool(tmp_path, env, "--workers", "2")
    try:
        pool.wait_for("serving on", 2)
        first = pool.workers()
        assert len(first) == 2, pool.text()
        assert "worker 1 serving on" in pool.text()
        assert "worker 2 serving on" in pool.text()
        assert health(port) == 200
        assert vtn_answers(vtn_port)

        # Worker 1 killed: worker 2 serves both ports on its own meanwhile.
        victim = first[0]
        survivor = first[1]
        subprocess.run(["kill", "-KILL", str(victim)], check=True)
        pool.wait_for("ended with code -9", 1, timeout=10)
        assert health(port) == 200
        assert vtn_answers(vtn_port)
        pool.wait_for("serving on", 3)
        again = pool.workers()
        assert len(again) == 2, pool.text()
        assert survivor in again
        assert victim not in again

        # And the new worker serves alone while worker 2 is started again.
        subprocess.run(["kill", "-KILL", str(survivor)], check=True)
        pool.wait_for("ended with code -9", 2, timeout=10)
        assert health(port) == 200
        assert vtn_answers(vtn_port)
        pool.wait_for("serving on", 4)

        began = time.monotonic()
        pool.proc.send_signal(signal.SIGTERM)
        code = pool.proc.wait(timeout=20)
        took = time.monotonic() - began
        assert code == 0, pool.text()
        assert took < EXIT_BOUND_SECONDS, f"{took:.1f} s: {pool.text()}"
        assert pool.text().count("INFO gateway: stopped") == 3  # two workers and the pool
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if pool.proc.poll() is None:
            pool.proc.kill()
            pool.proc.wait()


def test_a_port_in_use_stops_the_pool_before_any_worker_starts(
    tmp_path: Path, pool_env: dict[str, str]
) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = subprocess.run(
            [*GATEWAY, "run", "--workers", "2"], cwd=tmp_path,
            env={**pool_env, "GATEWAY_HTTP_PORT": str(port)}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (http_port): address already in use" in (
        result.stderr
    )
    assert "worker" not in result.stderr.replace("--workers", "")


def test_workers_need_a_redis_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [*GATEWAY, "run", "--workers", "2"], cwd=tmp_path,
        env=_clean_env(GATEWAY_ADMIN_TOKEN=TOKEN, GATEWAY_HTTP_PORT=str(free_port())),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--workers needs redis_url" in result.stderr
    assert not (tmp_path / "data" / "redis.sock").exists()


@pytest.mark.parametrize("given", ["0", "-1", "two"])
def test_workers_must_be_a_whole_number_from_one(tmp_path: Path, given: str) -> None:
    result = subprocess.run(
        [*GATEWAY, "run", "--workers", given], cwd=tmp_path, env=_clean_env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--workers" in result.stderr
