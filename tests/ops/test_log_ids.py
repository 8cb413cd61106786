"""Every line about a VEN, an invitation or an event carries its id, in both log formats: the
admin API's line for each write (and the lines logged while it is handled), and the upstream
VEN's lines about the utility's events. The lines are read as the handler writes them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.app import UPSTREAM
from gateway.observability.logs import LogFormat, log_handler
from tests.support import AUTH, Api
from tests.upstream.conftest import (  # noqa: F401  (the utility's fixtures)
    Utility,
    upstream_overrides,
    utility,
    utility_port,
)
from tests.vtn.conftest import eventually


class Written:
    """What a gateway log handler of one format wrote."""

    def __init__(self, log_format: LogFormat) -> None:
        self.format = log_format
        self.stream = io.StringIO()
        self.handler = log_handler(log_format)
        self.handler.setStream(self.stream)

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def about(self, text: str) -> list[str]:
        return [line for line in self.lines() if text in line]

    def ids(self, text: str) -> dict[str, Any]:
        """The ids on the first line whose message holds ``text``."""
        found = self.about(text)
        assert found, f"no line with {text!r} in {self.lines()}"
        if self.format == "json":
            return {k: v for k, v in json.loads(found[0]).items() if k.endswith("_id")}
        _, _, tail = found[0].rpartition(" [")
        return dict(pair.split("=", 1) for pair in tail.rstrip("]").split())


@pytest.fixture(params=["json", "text"])
def written(request: pytest.FixtureRequest) -> Iterator[Written]:
    capture = Written(request.param)
    gateway = logging.getLogger("gateway")
    level = gateway.level
    gateway.setLevel(logging.INFO)
    gateway.addHandler(capture.handler)
    yield capture
    gateway.removeHandler(capture.handler)
    gateway.setLevel(level)


async def test_each_admin_write_names_what_it_was_about(api: Api, written: Written) -> None:
    await api.post("/api/vens", {"name": "ven-a", "ven_id": "ven-a"}, status=201)
    await api.device("d1", ven_id="ven-a", resource_id="r1")
    invitation = await api.invite(["d1"])
    await api.answer(invitation["id"], "d1", "YES", 2.0)
    event_id = (await api.get(f"/api/invitations/{invitation['id']}"))["event_id"]
    await api.patch("/api/vens/ven-a", {"name": "north"}, status=200)
    await api.post(f"/api/events/{event_id}/cancel", {}, status=200)

    assert written.ids("admin POST /api/vens: 201") == {"ven_id": "ven-a"}
    assert written.ids("admin POST /api/invitations: 201")["invitation_id"] == invitation["id"]
    answered = written.ids(f"admin POST /api/invitations/{invitation['id']}/answers: 201")
    assert answered == {"invitation_id": invitation["id"], "event_id": event_id}
    # A line the services log while the request is handled carries the same id.
    assert (
        written.ids(f"invitation {invitation['id']} decided")["invitation_id"] == (invitation["id"])
    )
    assert written.ids("admin PATCH /api/vens/ven-a: 200") == {"ven_id": "ven-a"}
    cancelled = written.ids(f"admin POST /api/events/{event_id}/cancel: 200")
    assert cancelled["event_id"] == event_id


async def test_a_refused_write_is_logged_with_its_ids_too(api: Api, written: Written) -> None:
    resp = await api.client.delete("/api/vens/nope", headers=AUTH)
    assert resp.status == 404
    assert written.ids("admin DELETE /api/vens/nope: 404") == {"ven_id": "nope"}


class TestUpstream:
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture
    def settings_overrides(self, upstream_overrides: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
        return upstream_overrides

    async def test_upstream_lines_name_the_utility_event_and_its_invitation(
        self,
        utility: Utility,  # noqa: F811
        api: Api,
        client: Any,
        written: Written,
    ) -> None:
        await api.device("a1")
        await asyncio.wait_for(client.app[UPSTREAM].connected.wait(), 15)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        utility.add_event("utility-ev-9", start, minutes=10, kw=2.0)

        async def invited() -> Any:
            return (await api.get("/api/invitations"))["items"]

        (invitation,) = await eventually(invited)
        await eventually(lambda: _logged(written, "upstream event utility-ev-9: invitation"))
        ids = written.ids("upstream event utility-ev-9: invitation")
        assert ids["upstream_event_id"] == "utility-ev-9"
        assert ids["invitation_id"] == invitation["id"]
        # The invitation it made was announced inside the same context.
        assert all("upstream_event_id" in line for line in written.about("utility-ev-9"))


async def _logged(written: Written, text: str) -> bool:
    return bool(written.about(text))
