"""docker-compose.yml must be a valid compose file wired through the documented variables.

There is no Docker engine here, so the file is checked against the compose specification's
rules that matter for it: top-level keys, services with an image or build, environment maps,
port strings, depends_on naming real services, healthchecks, and declared named volumes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"name", "services", "volumes", "networks", "configs", "secrets", "version"}
SERVICE_KEYS = {
    "build", "image", "command", "environment", "ports", "volumes", "depends_on",
    "healthcheck", "restart", "user", "working_dir", "entrypoint", "networks",
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
    assert set(services) == {"gateway", "postgres", "redis"}
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


def test_compose_wires_the_gateway_through_its_environment_variables() -> None:
    env = _compose()["services"]["gateway"]["environment"]
    assert env["GATEWAY_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["GATEWAY_DATABASE_URL"]
    assert env["GATEWAY_REDIS_URL"] == "redis://redis:6379/0"
    assert env["GATEWAY_ADMIN_TOKEN"].startswith("${GATEWAY_ADMIN_TOKEN:?")
    assert {"GATEWAY_HTTP_PORT", "GATEWAY_DATA_DIR"} <= set(env)


def test_no_private_keys_are_tracked_under_certs() -> None:
    ignore = (ROOT / ".gitignore").read_text()
    assert "certs/**/*.key" in ignore
    assert not [p for p in (ROOT / "certs").rglob("*") if p.suffix in {".key", ".pem"}]
