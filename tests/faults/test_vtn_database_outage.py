"""The VTN while its database is cut (a TCP proxy in front of PostgreSQL): a 2.0b or 2.0a VEN's
request is an HTTP 503, never a 500 or an OpenADR answer made up without the store, and it is
served again once the database is back."""

from __future__ import annotations

import aiohttp
import pytest
from lxml import etree

from tests.faults.tcp_proxy import TcpProxy
from tests.faults.test_database_outage import database_url, pg_proxy
from tests.oadr20a.peer import Ven20a
from tests.oadr20b import messages
from tests.oadr20b.ven import VtnAnswerError, raw_vens
from tests.support import Api
from tests.vtn.conftest import VTN_PATH
from tests.vtn.raw_ven import provision, registered

__all__ = ["database_url", "pg_proxy"]  # fixtures


async def test_2_0b_and_2_0a_requests_are_503_while_the_database_is_cut(
    api: Api, pg_proxy: TcpProxy
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    invitation = (await api.invite(["a1"]))["id"]
    url = str(api.client.make_url(VTN_PATH)).removesuffix("/2.0b") + "/EiEvent"
    async with raw_vens(str(api.client.make_url(VTN_PATH))) as vens, aiohttp.ClientSession() as s:
        ven_b = await registered(api, vens, "ven-b", {"b1": "rb1"})
        ven_a = Ven20a(s, url, "ven-a")
        assert (await ven_a.request_event()).event_ids() == [invitation]

        await pg_proxy.stop()
        refused = await ven_a.post(etree.tostring(ven_a.request_event_xml()))
        assert refused.status == 503, refused.text
        created = ven_a.created_event_xml([(invitation, 0, "optIn")])
        answered = await ven_a.post(etree.tostring(created))
        assert answered.status == 503, answered.text
        with pytest.raises(VtnAnswerError, match="HTTP 503"):
            await ven_b.post("EiEvent", ven_b.serialize(messages.request_event("r1", "ven-b")))

        await pg_proxy.start()
        assert (await ven_a.request_event()).event_ids() == [invitation]
        assert (await ven_a.created_event([(invitation, 0, "optIn")])).code == 200
        assert (await ven_b.request_event()).code == 200
    view = await api.get(f"/api/invitations/{invitation}")
    assert [(a["device_id"], a["answer"]) for a in view["answers"]] == [("a1", "YES")]
