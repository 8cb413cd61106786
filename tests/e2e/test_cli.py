"""The command as a user runs it: `oadr-gateway run` in a subprocess, driven over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from gateway.db.migrate import head_revision
from tests.support import free_port

pytestmark = pytest.mark.e2e

GATEWAY = [sys.executable, "-m", "gateway"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


class Gateway:
    def __init__(self, workdir: Path, port: int, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = port
        self.log = workdir / "gateway.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*GATEWAY, "run"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {self.log.read_text()}")
            try:
                status, body = self.request("GET", "/health")
                if status == 200:
                    return dict(body)
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway not healthy in {timeout}s: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # A test that failed half-way must not leave an embedded Redis behind.
    socket = tmp_path / "data" / "redis.sock"
    if socket.exists():
        client = sync_redis.Redis(unix_socket_path=str(socket))
        with contextlib.suppress(sync_redis.RedisError, OSError):
            client.shutdown(nosave=True)
        client.close()


def test_zero_config_run_serves_the_whole_invitation_flow(workdir: Path) -> None:
    """No config file, no env: SQLite and an embedded Redis in ./data, and the flow works."""
    port = free_port()
    gw = Gateway(workdir, port, _clean_env(GATEWAY_HTTP_PORT=str(port)))
    try:
        health = gw.wait_healthy()
        assert health["database"]["ok"] is True
        assert health["redis"]["ok"] is True
        assert (workdir / "data" / "gateway.db").is_file()
        token = (workdir / "data" / "admin_token").read_text().strip()
        assert oct((workdir / "data" / "admin_token").stat().st_mode & 0o777) == "0o600"

        bus = sync_redis.Redis(unix_socket_path=str(workdir / "data" / "redis.sock"))
        pubsub = bus.pubsub()
        pubsub.subscribe("dr:dr_events")
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"

        assert gw.request("POST", "/api/devices", {"id": "x"})[0] == 401
        for device in ("pump-1", "hvac-2"):
            assert gw.request("POST", "/api/devices", {"id": device}, token)[0] == 201
        start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        status, inv = gw.request(
            "POST",
            "/api/invitations",
            {"event_time": start, "load_kwh": 4, "devices": ["pump-1", "hvac-2"]},
            token,
        )
        assert status == 201
        assert inv["duration_minutes"] == 59  # the documented default
        for device in ("pump-1", "hvac-2"):
            status, after = gw.request(
                "POST",
                f"/api/invitations/{inv['id']}/answers",
                {"device_id": device, "answer": "YES", "committed_kw": 2.0},
                token,
            )
            assert status == 201
        assert after["status"] == "scheduled"
        status, event = gw.request("GET", f"/api/events/{after['event_id']}")
        assert (status, event["status"]) == (200, "scheduled")

        seen: list[str] = []
        deadline = time.monotonic() + 5
        while "event_scheduled" not in seen and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                seen.append(json.loads(message["data"])["event"])
        assert seen == [
            "device_registered",
            "device_registered",
            "invitation_created",
            "invitation_answered",
            "invitation_answered",
            "event_scheduled",
        ]
        pubsub.close()
        bus.close()
    finally:
        assert gw.stop() == 0, gw.log.read_text()
    assert not (workdir / "data" / "redis.sock").exists()  # embedded Redis stopped with it


def test_accepted_data_survives_sigkill(workdir: Path) -> None:
    port = free_port()
    env = _clean_env(GATEWAY_HTTP_PORT=str(port), GATEWAY_ADMIN_TOKEN="e2e-token-0123456789")
    gw = Gateway(workdir, port, env)
    try:
        gw.wait_healthy()
        assert gw.request("POST", "/api/devices", {"id": "d1"}, "e2e-token-0123456789")[0] == 201
        start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        status, inv = gw.request(
            "POST",
            "/api/invitations",
            {"event_time": start, "load_percentage": 10, "devices": ["d1"]},
            "e2e-token-0123456789",
        )
        assert status == 201
    finally:
        gw.stop(signal.SIGKILL)

    again = Gateway(workdir, port, env)
    try:
        health = again.wait_healthy()
        assert health["redis"]["ok"] is True  # the embedded Redis left running is adopted
        status, body = again.request("GET", f"/api/invitations/{inv['id']}")
        assert (status, body["status"], body["devices"]) == (200, "pending", ["d1"])
    finally:
        assert again.stop() == 0, again.log.read_text()


@pytest.mark.parametrize(
    ("config", "env", "named"),
    [
        ('http_port = "eighty"\n', {}, "http_port"),
        ("answer_policy = 'most'\n", {}, "answer_policy"),
        ("htp_port = 8080\n", {}, "htp_port"),
        ("http_port = [\n", {}, "not valid TOML"),
        ("", {"GATEWAY_HTTP_PORT": "99999"}, "GATEWAY_HTTP_PORT"),
        ("", {"GATEWAY_DATABASE_URL": "mysql://db/x"}, "database_url"),
        ("", {"GATEWAY_ADMIN_TOKEN": "short"}, "admin_token"),
    ],
)
def test_bad_config_stops_start_up_with_exit_code_2(
    tmp_path: Path, config: str, env: dict[str, str], named: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(config)
    result = subprocess.run(
        [*GATEWAY, "--config", str(path), "run"],
        cwd=tmp_path,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started or written


def test_db_upgrade_applies_the_migrations(tmp_path: Path) -> None:
    result = subprocess.run(
        [*GATEWAY, "db", "upgrade"],
        cwd=tmp_path,
        env=_clean_env(GATEWAY_DATA_DIR=str(tmp_path / "state")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    # The newest migration of the tree (read from its files, not from the command's output).
    assert lines["applied"].strip() == lines["newest"].strip() == head_revision()
    assert (tmp_path / "state" / "gateway.db").is_file()


def test_unknown_subcommand_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*GATEWAY, "explode"], cwd=tmp_path, env=_clean_env(), capture_output=True, timeout=60
    )
    assert result.returncode == 2


def _config_show(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args],
        cwd=cwd,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_show_masks_every_secret(tmp_path: Path) -> None:
    result = _config_show(
        tmp_path,
        "config",
        "show",
        GATEWAY_DATABASE_URL="postgresql://gw:db-s3cret@db:5432/gateway",
        GATEWAY_REDIS_URL="redis://:redis-s3cret@cache:6379/0?password=query-s3cret",
        GATEWAY_ADMIN_TOKEN="admin-s3cret-0123456789",
        GATEWAY_METRICS_TOKEN="metrics-s3cret-0123456789",
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["database_url"] == "postgresql+asyncpg://gw:**********@db:5432/gateway"
    assert shown["redis_url"] == "redis://:**********@cache:6379/0?password=**********"
    assert shown["admin_token"] == shown["metrics_token"] == "**********"


def test_config_show_names_the_sqlite_file_in_use(tmp_path: Path) -> None:
    result = _config_show(tmp_path, "config", "show", GATEWAY_DATA_DIR="state")
    assert result.returncode == 0, result.stderr
    expected = f"sqlite+aiosqlite:///{(tmp_path / 'state' / 'gateway.db').resolve()}"
    assert json.loads(result.stdout)["database_url"] == expected


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "x.toml", "config", "show"],
        ["config", "show", "--config", "x.toml"],
    ],
)
def test_config_is_taken_before_or_after_the_subcommand(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "x.toml").write_text("http_port = 9123\nlog_format = 'json'\n")
    result = _config_show(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["http_port"], shown["log_format"]) == (9123, "json")


def test_run_takes_config_after_the_subcommand(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("htp_port = 1\n")
    result = _config_show(tmp_path, "run", "--config", "bad.toml")
    assert result.returncode == 2
    assert "unknown setting 'htp_port'" in result.stderr


def test_an_unknown_gateway_variable_is_reported_like_an_unknown_key(tmp_path: Path) -> None:
    result = _config_show(tmp_path, "run", GATEWAY_HTP_PORT="8080")
    assert result.returncode == 2
    assert "unknown setting 'GATEWAY_HTP_PORT'" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started
    # The test suite's own variables are not settings, and not typos either.
    ok = _config_show(tmp_path, "config", "show", GATEWAY_TEST_POSTGRES_URL="postgresql://x/y")
    assert ok.returncode == 0, ok.stderr


def test_json_logs_of_a_run(workdir: Path) -> None:
    port = free_port()
    env = _clean_env(GATEWAY_HTTP_PORT=str(port), GATEWAY_LOG_FORMAT="json")
    gw = Gateway(workdir, port, env)
    try:
        gw.wait_healthy()
        with urllib.request.urlopen(f"{gw.url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        assert 'oadr_dependency_up{dependency="database"} 1.0' in metrics
    finally:
        assert gw.stop() == 0, gw.log.read_text()
    records = [json.loads(line) for line in gw.log.read_text().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["message"].startswith("oadr-gateway ") and "serving on" in r["message"]
               for r in records)  # fmt: skip
