"""The report requests the utility's VTN granted, and the one loop that sends them.

A request (oadrCreateReport, or the oadrRegisteredReport answering the gateway's
oadrRegisterReport) names a report specifier, the rIDs wanted, a granularity (how often a value
is sampled) and a report-back duration (how often the samples go up). The loop samples and
sends each periodic request on time; one with no period is sent once, at once. The loop is one
task: ``start`` makes it when there is none (a re-registration does not make a second), and
whoever started it ends it with ``stop``.

A report specifier has one request in force: the newest the VTN made for it (a VTN answers
every oadrRegisterReport with new requests; the ones they replace are dropped). A report about
one upstream event (an offer with ``event_id``) is offered while the event is reported on
(``offer_event_report`` re-registers the reports with it, ``withdraw`` ends it), and is sent by
the reduction reports as its intervals close (``send_values``), never by the loop.
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
from gateway.upstream.port import ReportOffer, ReportValue, reply_code
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
    event_report: bool = False  # sent as the event's intervals close, not by the loop
    samples: list[ReportValue] = field(default_factory=list)
    next_sample: float = 0.0  # event-loop time
    next_send: float = 0.0

    @property
    def periodic(self) -> bool:
        return self.granularity > timedelta(0) and self.report_back > timedelta(0)

    @property
    def looped(self) -> bool:
        """Sampled and sent by the report loop."""
        return self.periodic and not self.event_report


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
        event_report=any(offered[r].event_id is not None for r in r_ids),
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
        self._standing = tuple(offers)
        self._event_offers: dict[str, tuple[ReportOffer, ...]] = {}  # by report specifier
        self._values = values
        self._store = store
        self._now = now
        self.grants: dict[str, Grant] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def offers(self) -> tuple[ReportOffer, ...]:
        """What the gateway offers now: the standing reports and those of the events."""
        return self._standing + tuple(o for g in self._event_offers.values() for o in g)

    def grant_for(self, report_specifier_id: str) -> Grant | None:
        return next(
            (g for g in self.grants.values() if g.report_specifier_id == report_specifier_id),
            None,
        )

    def event_report_offers(self, report_specifier_id: str) -> tuple[ReportOffer, ...]:
        """What is offered under an event's report (nothing: it is not offered)."""
        return self._event_offers.get(report_specifier_id, ())

    async def offer_event_report(self, offers: Sequence[ReportOffer]) -> None:
        """Offer one event's report: oadrRegisterReport again, with every report offered
        (the metadata a VTN keeps is the last registered), and take what the VTN requests."""
        if not offers:
            return
        self._event_offers[offers[0].report_specifier_id] = tuple(offers)
        await self.register()

    async def register(self) -> None:
        """oadrRegisterReport of every report offered; the requests in the answer granted."""
        if self._ven.ven_id is None:
            return
        reply = await self._ven.link.register_reports(self._ven.ven_id, self.offers)
        if reply is not None:
            await self.requested(reply[1])

    async def withdraw(self, report_specifier_id: str) -> None:
        """The event's report is over: no longer offered, its request ends here (nothing is
        sent for it after its final report)."""
        self._event_offers.pop(report_specifier_id, None)
        for grant in [
            g for g in self.grants.values() if g.report_specifier_id == report_specifier_id
        ]:
            del self.grants[grant.report_request_id]
            await self._store.cancel_report_request(grant.report_request_id, self._now())

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
                if grant.looped:
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

    async def _sample(self, grant: Grant) -> list[ReportValue]:
        if grant.event_report:
            return []  # its values are the event's closed intervals, sent by send_values
        samples: list[ReportValue] = []
        for r_id in grant.r_ids:
            samples.extend(
                ReportValue(r_id, when, value) for when, value in await self._values(r_id)
            )
        return samples

    async def _send(
        self, grant: Grant, samples: Sequence[ReportValue], report_id: str | None = None
    ) -> bool:
        if not samples or self._ven.ven_id is None:
            return False
        reply = await self._ven.link.update_report(
            self._ven.ven_id, grant.report_request_id, grant.report_specifier_id, samples,
            report_id,
        )  # fmt: skip
        if reply is not None and isinstance(reply[1].get("cancel_report"), dict):
            await self.cancel(reply[1]["cancel_report"])
        return reply_code(reply) == 200

    async def send_values(
        self, report_specifier_id: str, values: Sequence[ReportValue], report_id: str
    ) -> bool:
        """Send ``values`` (those of the rIDs the request asks) as one oadrUpdateReport under
        ``report_id``, waiting for the VTN's answer: True when it was taken (200), or when the
        request asks for none of them."""
        grant = self.grant_for(report_specifier_id)
        if grant is None:
            return False
        wanted = [v for v in values if v.r_id in grant.r_ids]
        if not wanted:
            return True  # nothing the request asks for: nothing to send is done
        return await self._send(grant, wanted, report_id)

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
            await self._replace(grant)
        request_id = payload.get("request_id") or (payload.get("response") or {}).get("request_id")
        code = 200 if len(granted) == len(requests) else INVALID_ID
        await self._ven.link.created_report(
            self._ven.ven_id or "", request_id,
            [str(r.get("report_request_id")) for r in requests], code,
        )  # fmt: skip
        for grant in granted:
            if not grant.periodic and not grant.event_report:
                await self._send(grant, await self._sample(grant))

    async def _replace(self, grant: Grant) -> None:
        """``grant`` is the request in force for its report specifier; an older one ends."""
        for old in [
            g for g in self.grants.values()
            if g.report_specifier_id == grant.report_specifier_id
            and g.report_request_id != grant.report_request_id
        ]:  # fmt: skip
            del self.grants[old.report_request_id]
            await self._store.cancel_report_request(old.report_request_id, self._now())
        self.grants[grant.report_request_id] = grant

    async def restore(self) -> None:
        """Requests granted before a restart: they hold until the VTN cancels them or makes a
        newer one for the same report (then the newest holds, the others end)."""
        for stored in reversed(await self._store.report_requests()):  # newest first
            grant = read_grant(from_jsonable(stored), self.offers)
            if grant is None or grant.report_request_id in self.grants:
                continue
            if self.grant_for(grant.report_specifier_id) is None:
                self.grants[grant.report_request_id] = grant
            else:
                await self._store.cancel_report_request(grant.report_request_id, self._now())

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
