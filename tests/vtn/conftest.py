"""Fixtures for the VTN: stock openleadr VENs talking HTTP to the gateway on 127.0.0.1.

Every message the gateway sends a VEN made by ``make_ven`` is validated against openleadr's
bundled ``oadr_20b.xsd``; a test fails at teardown if any was not schema-valid.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from lxml import etree
from openleadr import OpenADRClient
from openleadr.messaging import XML_SCHEMA

VTN_PATH = "/OpenADR2/Simple/2.0b"


class XsdLog:
    """Every XML body a VEN received from the gateway, and which failed the schema."""

    def __init__(self) -> None:
        self.received = 0
        self.invalid: list[str] = []

    def check(self, xml: str) -> None:
        if not xml:
            return  # an empty HTTP 200 answers an oadrResponse
        self.received += 1
        try:
            tree = etree.fromstring(xml.encode("utf-8"))
        except etree.XMLSyntaxError as err:
            self.invalid.append(f"not XML: {err}: {xml[:200]}")
            return
        if not XML_SCHEMA.validate(tree):
            self.invalid.append(f"{XML_SCHEMA.error_log.last_error}: {xml[:300]}")


@pytest.fixture
def xsd_log() -> XsdLog:
    return XsdLog()


@pytest.fixture
def vtn_url(client: TestClient[Any, Any]) -> str:
    return str(client.make_url(VTN_PATH))


VenFactory = Callable[..., OpenADRClient]


@pytest.fixture
async def make_ven(vtn_url: str, xsd_log: XsdLog) -> AsyncIterator[VenFactory]:
    """``make_ven(name, **kwargs)``: an OpenADRClient for this test's gateway, stopped after."""
    made: list[OpenADRClient] = []

    def make(ven_name: str, *, url: str | None = None, **kwargs: Any) -> OpenADRClient:
        ven = OpenADRClient(ven_name=ven_name, vtn_url=url or vtn_url, **kwargs)
        ven.add_hook("after_receive_xml", xsd_log.check)
        made.append(ven)
        return ven

    yield make
    for ven in made:
        if ven.client_session is not None or ven.scheduler.running:
            await ven.stop()
    assert xsd_log.invalid == [], xsd_log.invalid


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a polling deadline, not a cancel scope
    every: float = 0.05,
) -> Any:
    """Poll ``probe`` until it returns something truthy; its last value otherwise fails."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(every)
