"""A webhook receiver on 127.0.0.1, as a 3.x client runs one: it answers the ``?echo=``
challenge and records each notification POSTed to it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from aiohttp import web

from tests.support import free_port


class WebhookReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.notifications: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.challenges: list[str] = []
        self.posts = 0  # every POST, answered or refused
        self.echo_wrong = False
        self.statuses: deque[int] = deque()  # answers for the next POSTs (then 200)
        self.always: int | None = None  # answer every POST with this status
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/hook", self._challenge)
        app.router.add_post("/hook", self._notified)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_post("/redirect", self._redirect)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _challenge(self, request: web.Request) -> web.Response:
        echo = request.query.get("echo", "")
        self.challenges.append(echo)
        return web.Response(text="not-it" if self.echo_wrong else echo)

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(
            self.url("/hook") + ("?" + request.query_string if request.query_string else "")
        )

    async def _notified(self, request: web.Request) -> web.Response:
        self.posts += 1
        status = self.always or (self.statuses.popleft() if self.statuses else 200)
        raw = await request.read()
        if status == 200:
            self.raw_bodies.append(raw)
            self.notifications.append(json.loads(raw))
            self.headers.append(dict(request.headers))
        async with self._changed:
            self._changed.notify_all()
        return web.Response(status=status)

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.notifications) >= count)

        await asyncio.wait_for(enough(), seconds)
        return self.notifications

    async def wait_posts(self, count: int, seconds: float = 5.0) -> None:
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.posts >= count)

        await asyncio.wait_for(enough(), seconds)
