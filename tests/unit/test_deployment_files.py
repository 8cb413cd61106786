"""docker-compose.yml must be a valid compose file wired through the documented variables.

There is no ``docker compose`` here (the engine has no compose plugin), so the file is checked
against the compose specification's rules that matter for it: top-level keys, services with an
image or build, environment maps, port strings, depends_on naming real services, healthchecks,
and declared named volumes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import CONTAINER_UID
from gateway.settings import unknown_environment_variables

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"name", "services", "volumes", "networks", "configs", "secrets", "version"}
SERVICE_KEYS = {
    "build", "image", "command", "environment", "ports", "volumes", "depends_on",
    "healthcheck", "restart", "user", "working_dir", "entrypoint", "networks", "deploy",
}  # fmt: skip
PORT = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}:)?\d{1,5}:\d{1,5}(/(tcp|udp))?$")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_follows_the_spec_rules() -> None:
    compose = _compose()
    assert set(compose) <= TOP_LEVEL
    services = compose["services"]
    assert set(services) == {"gateway", "proxy", "postgres", "redis"}
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service
        assert isinstance(service.get("environment", {}), dict)
        for port in service.get("ports", []):
            assert PORT.match(port), port
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services
            assert condition["condition"] in {"service_started", "service_healthy"}
        check = service["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"}
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, source
    assert services["gateway"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_two_replicas_behind_the_proxy_with_the_vtn_tls_port() -> None:
    services = _compose()["services"]
    gateway, proxy = services["gateway"], services["proxy"]
    assert gateway["deploy"]["replicas"] == 2
    assert "ports" not in gateway  # reached through the proxy only
    assert set(proxy["ports"]) == {"127.0.0.1:8080:8080", "8443:8443"}
    assert proxy["depends_on"]["gateway"]["condition"] == "service_healthy"
    env = gateway["environment"]
    assert env["GATEWAY_VTN_PORT"] == "8443"
    assert {env[f"GATEWAY_VTN_TLS_{n}"] for n in ("CERT", "KEY", "CA")} == {
        "/app/certs/vtn.crt", "/app/certs/vtn.key", "/app/certs/ca.crt",
    }  # fmt: skip
    assert "./certs:/app/certs:ro" in gateway["volumes"]
    mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro"))
    conf = (ROOT / mount.split(":")[0]).read_text()
    assert "server gateway:8080" in conf  # the admin API, balanced over the replicas
    assert re.search(r"stream \{.*server gateway:8443", conf, re.S)  # TLS passed through


def test_every_gateway_variable_of_the_compose_file_is_a_setting() -> None:
    env = _compose()["services"]["gateway"]["environment"]
    assert unknown_environment_variables(env) == []


def test_the_container_user_is_the_one_certs_init_gives_keys_to() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {CONTAINER_UID}:{CONTAINER_UID}" in dockerfile
    assert f"--uid {CONTAINER_UID}" in dockerfile


def test_compose_wires_the_gateway_through_its_environment_variables() -> None:
    env = _compose()["services"]["gateway"]["environment"]
    assert env["GATEWAY_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["GATEWAY_DATABASE_URL"]
    assert env["GATEWAY_REDIS_URL"] == "redis://redis:6379/0"
    assert env["GATEWAY_ADMIN_TOKEN"].startswith("${GATEWAY_ADMIN_TOKEN:?")
    assert {"GATEWAY_HTTP_PORT", "GATEWAY_DATA_DIR"} <= set(env)


def test_no_private_keys_are_tracked_under_certs() -> None:
    """Git is asked, not the working tree: ``oadr-gateway certs init`` writes keys there, and
    they are ignored, never tracked."""
    ignore = (ROOT / ".gitignore").read_text()
    assert "certs/**/*.key" in ignore
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = (
        subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--", "certs"],
            capture_output=True,
            check=True,
            timeout=30,
        )
        .stdout.decode()
        .split("\0")
    )
    assert "certs/README.md" in tracked  # the listing is real
    assert [p for p in tracked if p.endswith((".key", ".pem"))] == []
    # What the command writes is ignored, so that it cannot be added by accident.
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", "certs/vtn.key", "certs/a/b.pem"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert ignored == ["certs/vtn.key", "certs/a/b.pem"]
