"""Being the utility's VEN: the upstream lease, registration with backoff, the poll loop.

Of several gateway replicas exactly one holds the lease and is the VEN; another takes over
when it dies. While it holds it, it registers (retrying with a growing delay), offers its
reports, takes the events the VTN has, and then polls, handing each message to the part that
deals with it; between polls it runs ``tick`` (answers and reduction values). Every task here
has one owner that ends it: the lease loop ends the serving task, the serving task ends the
report loop and closes the HTTP session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError

from gateway.executor.lease import EventLease
from gateway.settings import UpstreamSettings
from gateway.supervisor import end_tasks, pause
from gateway.upstream.port import Reply
from gateway.upstream.reporting import Reporter
from gateway.upstream.ven import UpstreamVen

logger = logging.getLogger(__name__)

EventsSink = Callable[[list[dict[str, Any]]], Awaitable[None]]
Tick = Callable[[UpstreamVen], Awaitable[None]]
TICK_SECONDS = 0.5
LEASE_SECONDS = 10.0
LEASE_NAME = "ven"
# How long the serving task may take to close the client, and then to answer a cancel.
CLOSE_SECONDS = 1.0
FAILED_POLLS = 3  # this many polls in a row unanswered: connect again


class UpstreamConnection:
    def __init__(
        self,
        config: UpstreamSettings,
        lease: EventLease,
        ven: UpstreamVen,
        reporter: Reporter,
        on_events: EventsSink,
        tick: Tick,
    ) -> None:
        self._config = config
        self._lease = lease
        self.ven = ven
        self.reporter = reporter
        self._events_sink = on_events
        self._tick = tick
        self.connected = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        """Serve upstream while this process holds the lease. Ends, with the client closed
        and the lease released, soon after ``stopping`` is set."""
        lease = self._lease
        while not stopping.is_set():
            try:
                fence = await lease.acquire(LEASE_NAME)
            except (RedisError, OSError) as err:
                logger.warning("upstream: cannot take the lease (%s)", err)
                fence = None
            if fence is None:
                await pause(stopping, LEASE_SECONDS / 3)
                continue
            logger.info("upstream: this process is the utility's VEN")
            serving_stop = asyncio.Event()  # set on shutdown or when the lease is lost
            serving = asyncio.create_task(
                self._run_connected(serving_stop), name="upstream-serving"
            )
            try:
                while not serving.done():
                    if await pause(stopping, LEASE_SECONDS / 3):
                        break
                    try:
                        renewed = await lease.renew(LEASE_NAME, fence)
                    except (RedisError, OSError):
                        renewed = False
                    if not renewed:
                        logger.warning("upstream: lease lost; another replica takes over")
                        break
            finally:
                serving_stop.set()
                await end_tasks({serving}, CLOSE_SECONDS, CLOSE_SECONDS)
                with contextlib.suppress(RedisError, OSError):
                    await lease.release(LEASE_NAME, fence)

    async def _run_connected(self, stopping: asyncio.Event) -> None:
        delay = self._config.reconnect_min_seconds
        while not stopping.is_set():
            try:
                if await self._connect():
                    delay = self._config.reconnect_min_seconds
                    await self._serve(stopping)
            except asyncio.CancelledError:
                await self._close()
                raise
            except Exception:
                logger.exception("upstream VEN failed; reconnecting")
            await self._close()
            if stopping.is_set():
                return
            logger.warning(
                "upstream VTN %s unreachable; retrying in %.0f s", self._config.vtn_url, delay
            )
            if await pause(stopping, delay):
                return
            delay = min(delay * 2, self._config.reconnect_max_seconds)

    async def _connect(self) -> bool:
        if not await self.ven.register():
            return False
        logger.info("upstream: registered as %s (%s)", self.ven.ven_id, self.ven.registration_id)
        self.reporter.grants.clear()
        await self._offer_reports_and_sync()
        await self.reporter.restore()
        self.reporter.start()
        self.connected.set()
        return True

    async def _offer_reports_and_sync(self) -> None:
        assert self.ven.ven_id is not None
        reply = await self.ven.link.register_reports(self.ven.ven_id, self.reporter.offers)
        if reply is not None:
            await self.reporter.requested(reply[1])
        events = await self.ven.events()
        if events:
            await self._events_sink(events)

    async def reregister(self) -> bool:
        """What an oadrRequestReregistration asks: register again, offer the reports again
        and take the events again; the report loop that runs goes on (no second one)."""
        if not await self.ven.register(again=True):
            return False
        await self._offer_reports_and_sync()
        return True

    def _poll_seconds(self) -> float:
        if self._config.poll_interval_seconds:
            return self._config.poll_interval_seconds
        return (self.ven.poll_frequency or timedelta(seconds=10)).total_seconds()

    async def _serve(self, stopping: asyncio.Event) -> None:
        interval = self._poll_seconds()
        next_poll = 0.0
        failures = 0
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            if loop.time() >= next_poll:
                next_poll = loop.time() + interval
                reply = await self.ven.poll()
                if reply is None:
                    failures += 1
                    if failures >= FAILED_POLLS:
                        logger.warning("upstream: %d polls failed; reconnecting", failures)
                        return
                else:
                    failures = 0
                    await self._handle(reply)
                if not self.ven.registered:
                    return  # the VTN cancelled our registration: register again
            await self._tick(self.ven)
            await pause(stopping, TICK_SECONDS)

    async def _handle(self, reply: Reply) -> None:
        reply_type, payload = reply
        if reply_type == "oadrDistributeEvent":
            await self._events_sink(list(payload.get("events") or []))
        elif reply_type == "oadrRequestReregistration":
            await self.ven.acknowledge("EiRegisterParty", payload.get("request_id"))
            await self.reregister()
        elif reply_type == "oadrCreateReport":
            await self.reporter.requested(payload)
        elif reply_type == "oadrCancelReport":
            await self.reporter.cancel(payload)
        elif reply_type == "oadrCancelPartyRegistration":
            await self.ven.cancelled_by_vtn(payload)

    async def _close(self) -> None:
        self.connected.clear()
        try:
            await self.reporter.stop(CLOSE_SECONDS)
            await self.ven.link.close()
        except Exception as err:  # closing must not hide the reason we are closing
            logger.warning("upstream: closing the client: %s", err)
