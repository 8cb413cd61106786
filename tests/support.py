"""Helpers shared by the tests: clocks, free ports, a dr_events recorder, an API client."""

from __future__ import annotations

import ast
import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.bus.subscription import follow

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MutableClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    def monotonic(self) -> float:
        return (self.current - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds=max(seconds, 0.0))
        await asyncio.sleep(0)


class JumpingClock:
    """The real clock, which the test can move ahead (``advance``): for gateways whose workers
    run on real time (they sleep as the system does) where a case needs minutes to pass."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


def in_minutes(minutes: float, clock: Any = None) -> str:
    base = clock.now() if clock is not None else datetime.now(UTC)
    return (base + timedelta(minutes=minutes)).isoformat()


class ChannelRecorder:
    """Records every JSON message on a Redis channel from the moment it is started."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self._redis = redis
        self.channel = channel
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once subscribed."""
        subscribed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(
            follow(self._redis, [self.channel], self._take, self._stopping,
                   name="test recorder", on_subscribed=subscribed.set)
        )  # fmt: skip
        await asyncio.wait_for(subscribed.wait(), 5)

    async def _take(self, _channel: str, data: Any) -> None:
        async with self._changed:
            self.messages.append(json.loads(data))
            self._changed.notify_all()

    def named(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == event]

    async def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - one bound for the wait and its condition
    ) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: predicate(self.messages)), timeout
            )
        return self.messages

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await asyncio.wait_for(self._task, 5)


class Api:
    """A thin admin-API client for tests: authenticated writes, JSON out."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client

    async def post(self, path: str, body: Any, status: int | None = None) -> Any:
        resp = await self.client.post(path, json=body, headers=AUTH)
        data = await resp.json()
        if status is not None:
            assert resp.status == status, (resp.status, data)
        return data

    async def put(self, path: str, body: Any, status: int | None = None) -> Any:
        resp = await self.client.put(path, json=body, headers=AUTH)
        data = await resp.json()
        if status is not None:
            assert resp.status == status, (resp.status, data)
        return data

    async def patch(self, path: str, body: Any, status: int | None = None) -> Any:
        resp = await self.client.patch(path, json=body, headers=AUTH)
        data = await resp.json()
        if status is not None:
            assert resp.status == status, (resp.status, data)
        return data

    async def delete(self, path: str, status: int | None = None) -> Any:
        resp = await self.client.delete(path, headers=AUTH)
        data = await resp.json()
        if status is not None:
            assert resp.status == status, (resp.status, data)
        return data

    async def get(
        self, path: str, status: int = 200, params: dict[str, Any] | None = None, **query: Any
    ) -> Any:
        resp = await self.client.get(path, params={**(params or {}), **query})
        data = await resp.json()
        assert resp.status == status, (resp.status, data)
        return data

    async def device(self, device_id: str, timezone: str = "UTC", **extra: Any) -> Any:
        return await self.post(
            "/api/devices", {"id": device_id, "timezone": timezone, **extra}, status=201
        )

    async def invite(self, devices: list[str], status: int = 201, **fields: Any) -> Any:
        body: dict[str, Any] = {
            "event_time": in_minutes(120),
            "duration_minutes": 60,
            "load_kwh": 10.0,
            "load_percentage": 20.0,
            "devices": devices,
        }
        body.update(fields)
        return await self.post("/api/invitations", body, status=status)

    async def answer(
        self,
        invitation_id: str,
        device_id: str,
        answer: str = "YES",
        committed_kw: float | None = 5.0,
        status: int | None = 201,
    ) -> Any:
        body: dict[str, Any] = {"device_id": device_id, "answer": answer}
        if committed_kw is not None:
            body["committed_kw"] = committed_kw
        return await self.post(f"/api/invitations/{invitation_id}/answers", body, status=status)


def power_json(kw: float, ts: datetime | None = None, source: str = "test") -> str:
    return json.dumps({"kw": kw, "ts": (ts or datetime.now(UTC)).isoformat(), "source": source})


class FakeClock(MutableClock):
    """Time that moves only when code sleeps, so an hour-long event runs in moments.

    ``on_advance`` runs after every move, at the new time: tests use it to play devices that
    write the power bus as time goes by.
    """

    def __init__(
        self,
        start: datetime | None = None,
        on_advance: Callable[[datetime], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(start)
        self._mono = 1000.0
        self.on_advance = on_advance

    def monotonic(self) -> float:
        return self._mono

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.current += step
        self._mono += step.total_seconds()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds=max(seconds, 1e-6))  # a datetime moves by whole microseconds
            if self.on_advance is not None:
                await self.on_advance(self.current)
        await asyncio.sleep(0)


def top_level_imports(path: Path) -> set[str]:
    """The packages a module imports (their first dotted name): a test peer must name neither
    openleadr nor the gateway."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "").split(".")[0])
    return found
