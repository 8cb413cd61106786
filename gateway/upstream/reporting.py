"""The report requests the utility's VTN granted, and the one loop that sends them.

A request (oadrCreateReport, or the oadrRegisteredReport answering the gateway's
oadrRegisterReport) names a report specifier, the rIDs wanted, a granularity (how often a value
is sampled) and a report-back duration (how often the samples go up). The loop samples and
sends each periodic request on time; one with no period is sent once, at once. The loop is one
task: ``start`` makes it when there is none (a re-registration does not make a second), and
whoever started it ends it with ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.jsonable import from_jsonable, to_jsonable
from gateway.supervisor import end_tasks, pause
from gateway.upstream.port import ReportOffer, reply_code
from gateway.upstream.store import UpstreamStore
from gateway.upstream.ven import UpstreamVen

logger = logging.getLogger(__name__)

# The current values of one rID: (when, value) pairs, none when there is no reading.
ValueSource = Callable[[str], Awaitable[list[tuple[datetime, float]]]]
LOOP_SECONDS = 0.25
TASK_NAME = "upstream-reports"
INVALID_ID = 452  # OpenADR 2.0b response code for an unknown or invalid id


@dataclass
class Grant:
    report_request_id: str
    report_specifier_id: str
    r_ids: tuple[str, ...]
    granularity: timedelta
    report_back: timedelta
    samples: list[tuple[str, datetime, float]] = field(default_factory=list)
    next_sample: float = 0.0  # event-loop time
    next_send: float = 0.0

    @property
    def periodic(self) -> bool:
        return self.granularity > timedelta(0) and self.report_back > timedelta(0)


def read_grant(request: dict[str, Any], offers: Sequence[ReportOffer]) -> Grant | None:
    """The grant a report request makes of what the gateway offers; None when it asks for
    nothing the gateway has."""
    specifier = request.get("report_specifier") or {}
    specifier_id = str(specifier.get("report_specifier_id") or "")
    offered = {o.r_id: o for o in offers if o.report_specifier_id == specifier_id}
    wanted = [str(p.get("r_id")) for p in specifier.get("specifier_payloads") or []]
    r_ids = tuple(r for r in wanted if r in offered)
    if not r_ids or request.get("report_request_id") is None:
        return None
    granularity = specifier.get("granularity")
    if not isinstance(granularity, timedelta):
        granularity = max(offered[r].max_period for r in r_ids)
    back = specifier.get("report_back_duration")
    return Grant(
        report_request_id=str(request["report_request_id"]), report_specifier_id=specifier_id,
        r_ids=r_ids, granularity=granularity,
        report_back=back if isinstance(back, timedelta) else timedelta(0),
    )  # fmt: skip


class Reporter:
    def __init__(
        self,
        ven: UpstreamVen,
        offers: Sequence[ReportOffer],
        values: ValueSource,
        store: UpstreamStore,
        now: Callable[[], datetime],
    ) -> None:
        self._ven = ven
        self.offers = tuple(offers)
        self._values = values
        self._store = store
        self._now = now
        self.grants: dict[str, Grant] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # --- the loop ---------------------------------------------------------------------------
    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._stopping), name=TASK_NAME)

    async def stop(self, seconds: float) -> None:
        task, self._task = self._task, None
        self._stopping.set()
        if task is not None:
            await end_tasks({task}, seconds, seconds)

    async def _run(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            for grant in list(self.grants.values()):
                if grant.periodic:
                    try:
                        await self._step(grant, loop.time())
                    except Exception:  # one report's failure ends neither the loop nor others
                        logger.exception("upstream: report %s", grant.report_request_id)
            await pause(stopping, LOOP_SECONDS)

    async def _step(self, grant: Grant, now: float) -> None:
        if now >= grant.next_sample:
            grant.next_sample = max(grant.next_sample + grant.granularity.total_seconds(), now)
            grant.samples.extend(await self._sample(grant))
        if now >= grant.next_send:
            grant.next_send = max(grant.next_send + grant.report_back.total_seconds(), now)
            samples, grant.samples = grant.samples, []
            await self._send(grant, samples)  # a failed send is dropped: the next one is due

    async def _sample(self, grant: Grant) -> list[tuple[str, datetime, float]]:
        samples: list[tuple[str, datetime, float]] = []
        for r_id in grant.r_ids:
            samples.extend((r_id, when, value) for when, value in await self._values(r_id))
        return samples

    async def _send(self, grant: Grant, samples: list[tuple[str, datetime, float]]) -> bool:
        if not samples or self._ven.ven_id is None:
            return False
        reply = await self._ven.link.update_report(
            self._ven.ven_id, grant.report_request_id, grant.report_specifier_id, samples
        )
        if reply is not None and isinstance(reply[1].get("cancel_report"), dict):
            await self.cancel(reply[1]["cancel_report"])
        return reply_code(reply) == 200

    async def send_now(self, report_specifier_id: str) -> bool:
        """Send every request of this report now, waiting for the VTN's answer: True when each
        was taken (200)."""
        grants = [g for g in self.grants.values() if g.report_specifier_id == report_specifier_id]
        if not grants:
            return False
        for grant in grants:
            if not await self._send(grant, await self._sample(grant)):
                return False
        return True

    # --- requests granted and cancelled -----------------------------------------------------
    async def requested(self, payload: dict[str, Any]) -> None:
        """oadrCreateReport or oadrRegisteredReport: grant, keep, answer oadrCreatedReport."""
        requests = list(payload.get("report_requests") or [])
        if not requests:
            return
        await self._store.save_report_requests(
            [(str(r.get("report_request_id")), to_jsonable(r)) for r in requests], self._now()
        )
        granted = [g for g in (read_grant(r, self.offers) for r in requests) if g is not None]
        for grant in granted:
            self.grants[grant.report_request_id] = grant
        request_id = payload.get("request_id") or (payload.get("response") or {}).get("request_id")
        code = 200 if len(granted) == len(requests) else INVALID_ID
        await self._ven.link.created_report(
            self._ven.ven_id or "", request_id,
            [str(r.get("report_request_id")) for r in requests], code,
        )  # fmt: skip
        for grant in granted:
            if not grant.periodic:
                await self._send(grant, await self._sample(grant))

    async def restore(self) -> None:
        """Requests granted before a restart: they hold until the VTN cancels them."""
        for stored in await self._store.report_requests():
            grant = read_grant(from_jsonable(stored), self.offers)
            if grant is not None and grant.report_request_id not in self.grants:
                self.grants[grant.report_request_id] = grant

    async def cancel(self, payload: dict[str, Any]) -> None:
        """oadrCancelReport: the last values go up, then oadrCanceledReport."""
        request_id = str(payload.get("report_request_id"))
        await self._store.cancel_report_request(request_id, self._now())
        grant = self.grants.pop(request_id, None)
        if grant is not None:
            await self._send(grant, grant.samples + await self._sample(grant))
        if self._ven.ven_id is not None:
            await self._ven.link.canceled_report(
                self._ven.ven_id, payload.get("request_id"), request_id
            )
