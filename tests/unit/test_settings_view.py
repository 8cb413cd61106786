"""``config show``: passwords in URLs and tokens are masked; everything else is shown as is."""

from __future__ import annotations

import pytest

from gateway.settings import unknown_environment_variables
from gateway.settings_view import mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://gw:pw@db:5432/x", "postgresql+asyncpg://gw:**********@db:5432/x"),
        ("postgresql+asyncpg://gw@db/x", "postgresql+asyncpg://gw@db/x"),
        ("rediss://user:p%40ss@cache:6380/1", "rediss://user:**********@cache:6380/1"),
        ("redis://cache:6379/0?password=pw&db=2", "redis://cache:6379/0?password=**********&db=2"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        (
            "sqlite+aiosqlite:////var/lib/gw/gateway.db",
            "sqlite+aiosqlite:////var/lib/gw/gateway.db",
        ),
        ("https://u:pw@utility.example/OpenADR2", "https://u:**********@utility.example/OpenADR2"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_unknown_environment_variables() -> None:
    environ = {
        "GATEWAY_HTTP_PORT": "1",
        "GATEWAY_UPSTREAM__VTN_URL": "x",
        "GATEWAY_UPSTREAM__VTN_ULR": "x",
        "GATEWAY_HTTP_PROT": "1",
        "gateway_log_levle": "INFO",
        "GATEWAY_TEST_POSTGRES_URL": "x",
        "PATH": "/bin",
    }
    assert unknown_environment_variables(environ) == [
        "GATEWAY_HTTP_PROT", "GATEWAY_UPSTREAM__VTN_ULR", "gateway_log_levle",
    ]  # fmt: skip
