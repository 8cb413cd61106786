"""The message log with Redis down: its route answers 503, and what the VTN gathered meanwhile
stays in memory until a flush gets through."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.app import VTN
from tests.faults.tcp_proxy import TcpProxy
from tests.faults.test_database_outage import UNAVAILABLE, redis_down_api, redis_proxy
from tests.oadr20b.ven import raw_vens
from tests.support import AUTH, Api
from tests.vtn.conftest import VTN_PATH
from tests.vtn.raw_ven import registered

__all__ = ["redis_down_api", "redis_proxy"]  # fixtures


async def test_messages_with_redis_down_are_503_and_kept_for_the_next_flush(
    redis_down_api: Api, redis_proxy: TcpProxy
) -> None:
    api = redis_down_api
    state = api.client.server.app[VTN].state
    async with raw_vens(str(api.client.make_url(VTN_PATH))) as vens:
        ven = await registered(api, vens, "ven-cut", {"d1": "r1"})
        await state.flush_seen()
        before = (await api.get("/api/vens/ven-cut/messages"))["count"]

        await redis_proxy.stop()
        resp = await api.client.get("/api/vens/ven-cut/messages", headers=AUTH)
        assert (resp.status, await resp.json()) == (503, UNAVAILABLE)
        assert (await ven.request_event()).code == 200  # a poll needs no Redis
        with pytest.raises(RedisConnectionError):
            await state.flush_seen()

    await redis_proxy.start()
    await state.flush_seen()
    items = (await api.get("/api/vens/ven-cut/messages"))["items"]
    assert len(items) == before + 2
    assert [(m["direction"], m["message_type"]) for m in items[:2]] == [
        ("to_ven", "oadrDistributeEvent"), ("from_ven", "oadrRequestEvent"),
    ]  # fmt: skip
