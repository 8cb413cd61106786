"""PostgreSQL cut (through a TCP proxy the test stops) under the 3.x API: every read and write
answers 503 with a problem body, never a 500, and works again once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL
from tests.faults.tcp_proxy import TcpProxy
from tests.oadr3.conftest import MakePeer

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(make_url(POSTGRES_URL).port or 5432 if POSTGRES_URL else 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def database_url(postgres_url: str, pg_proxy: TcpProxy) -> str:
    url = make_url(postgres_url).set(host="127.0.0.1", port=pg_proxy.port)
    return url.render_as_string(hide_password=False)


async def test_a_database_outage_is_a_503_problem_and_passes(
    peers: MakePeer, pg_proxy: TcpProxy
) -> None:
    bl = await peers("BL", "bl-1")
    ven = await peers("VEN", "ven-1")
    await pg_proxy.stop()
    for peer, method, args in [
        (bl, "get_programs", ()), (bl, "create_program", ({"programName": "x"},)),
        (ven, "get_events", ()), (ven, "get_vens", ()),
    ]:  # fmt: skip
        resp = await peer.raw(method, *args)
        assert resp.status_code == 503, (method, resp.text)
        body = resp.json()
        assert (body["status"], body["title"]) == (503, "Service Unavailable")
    await pg_proxy.start()
    assert [p["programName"] for p in await bl.ok("get_programs")] == ["Default program"]
