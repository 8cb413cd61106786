"""Fixtures of the OpenADR 3 tests: stock clients that are closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.oadr3.peers import Peer, peer

MakePeer = Callable[[str, str], Awaitable[Peer]]


@pytest.fixture
async def peers(client: TestClient[Any, Any]) -> AsyncIterator[MakePeer]:
    made: list[Peer] = []

    async def make(role: str, client_id: str) -> Peer:
        made.append(await peer(client, role, client_id))
        return made[-1]

    yield make
    for one in made:
        one.close()
