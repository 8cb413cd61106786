"""The upstream VEN over mutual TLS with XML signatures: the utility (stock openleadr) takes
only the gateway's client certificate and signature, and the gateway takes only answers
signed by the VTN certificate whose fingerprint it is given (``[upstream]`` cert, key,
ca_file, vtn_fingerprint)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.app import UPSTREAM
from gateway.security.certs import DevPki, init_dev_pki
from tests.support import Api
from tests.upstream.conftest import Utility, start_utility
from tests.vtn.conftest import eventually

VEN_NAME = "gateway-1"


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return init_dev_pki(tmp_path / "pki", ven_names=[VEN_NAME, "someone-else"])


@pytest.fixture
def trusted_name() -> str:
    """Whose certificate the gateway takes the VTN's answers from."""
    return "vtn"


@pytest.fixture
def trusted_fingerprint(pki: DevPki, trusted_name: str) -> str:
    issued = [pki.vtn, *pki.vens]
    return next(c for c in issued if c.name == trusted_name).fingerprint


@pytest.fixture
def settings_overrides(
    upstream_overrides: dict[str, Any], pki: DevPki, utility_port: int, trusted_fingerprint: str
) -> dict[str, Any]:
    ven = next(v for v in pki.vens if v.name == VEN_NAME)
    upstream = upstream_overrides["upstream"]
    upstream["vtn_url"] = f"https://127.0.0.1:{utility_port}/OpenADR2/Simple/2.0b"
    upstream.update(
        cert=ven.cert, key=ven.key, ca_file=pki.ca_cert, vtn_fingerprint=trusted_fingerprint
    )
    return upstream_overrides


@pytest.fixture
async def tls_utility(utility_port: int, pki: DevPki) -> AsyncIterator[Utility]:
    started = await start_utility(utility_port, pki, ven_cert=VEN_NAME)
    yield started
    await started.server.stop()
    await asyncio.sleep(0)


async def _opts(utility: Utility) -> list[tuple[str, str]]:
    return utility.opts


async def test_a_signed_event_over_mutual_tls_is_taken_and_answered_signed(
    tls_utility: Utility, api: Api, client: Any
) -> None:
    await api.device("a1")
    runner = client.app[UPSTREAM]
    await asyncio.wait_for(runner.connected.wait(), 15)
    assert runner.ven.ven_id == "gw-ven"  # registered: the utility took the certificate
    start = datetime.now(UTC) + timedelta(hours=1)
    tls_utility.add_event("signed-ev", start, minutes=10, kw=1.0, test=True)
    # The event came signed and was taken; the answer went up signed and was taken.
    await eventually(lambda: _opts(tls_utility))
    assert tls_utility.opts == [("signed-ev", "optIn")]


@pytest.mark.parametrize("trusted_name", ["someone-else"])
async def test_answers_signed_by_another_certificate_are_not_taken(
    pki: DevPki, utility_port: int, client: Any, trusted_fingerprint: str
) -> None:
    # The utility signs with the VTN certificate; the gateway expects another one's.
    assert trusted_fingerprint != pki.vtn.fingerprint
    runner = client.app[UPSTREAM]
    utility = await start_utility(utility_port, pki, ven_cert=VEN_NAME)
    try:
        await eventually(lambda: _registered_twice(utility), timeout=15)
        assert not runner.connected.is_set()  # every registration answer was refused
        assert runner.ven.registration_id is None
    finally:
        await utility.server.stop()


async def _registered_twice(utility: Utility) -> bool:
    return utility.registrations >= 2
