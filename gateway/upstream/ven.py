"""openleadr's OpenADRClient, told to hand events to the gateway instead of answering them
at once: the gateway answers when the downstream decision is made (or at its deadline)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from openleadr import OpenADRClient, enums, objects, utils

from gateway.supervisor import end_tasks

logger = logging.getLogger(__name__)

EventsSink = Callable[[list[dict[str, Any]]], Awaitable[None]]
RequestsSink = Callable[[list[dict[str, Any]]], Awaitable[None]]
CancelSink = Callable[[str], Awaitable[None]]


class _ReportsWithValues(asyncio.Queue[Any]):
    """A report with no values is not sent: no reading is no value, and an empty oadrReport
    is rejected by VTNs (openleadr's answers it with HTTP 500)."""

    async def put(self, item: Any) -> None:
        if getattr(item, "intervals", None):
            await super().put(item)


class GatewayVen(OpenADRClient):  # type: ignore[misc]  # openleadr is untyped
    def __init__(
        self,
        *,
        on_events: EventsSink,
        on_report_requests: RequestsSink,
        on_report_cancelled: CancelSink,
        **kwargs: Any,
    ) -> None:
        self.report_workers: list[asyncio.Task[None]] = []
        super().__init__(show_fingerprint=False, **kwargs)
        self._on_events = on_events
        self._on_report_requests = on_report_requests
        self._on_report_cancelled = on_report_cancelled
        self.pending_reports = _ReportsWithValues()

    # openleadr stores its report-queue worker here, and create_party_reregistration starts a
    # new one over the old without ending it: every worker is kept so that closing ends all.
    @property
    def report_queue_task(self) -> asyncio.Task[None] | None:
        return self.report_workers[-1] if self.report_workers else None

    @report_queue_task.setter
    def report_queue_task(self, task: asyncio.Task[None] | None) -> None:
        for old in self.report_workers:
            old.cancel()  # one worker sends at a time: the newest
        if task is not None:
            self.report_workers.append(task)

    async def stop_report_workers(self, seconds: float) -> None:
        workers, self.report_workers = self.report_workers, []
        await end_tasks(set(workers), 0.0, seconds)

    async def _on_event(self, message: dict[str, Any]) -> None:
        # Replaces openleadr's immediate optIn/optOut: the gateway answers each event later.
        await self._on_events(list(message.get("events") or []))

    async def create_report(self, response_payload: dict[str, Any]) -> None:
        requests = list(response_payload.get("report_requests") or [])
        await self._on_report_requests(requests)
        # openleadr collects the rIDs of all requests of one message into one shared list, so
        # each request would report every rID; one request per call keeps them apart.
        for request in requests:
            await super().create_report({**response_payload, "report_requests": [request]})

    async def cancel_report(self, payload: dict[str, Any]) -> None:
        await self._on_report_cancelled(str(payload.get("report_request_id")))
        await super().cancel_report(payload)

    async def restore_report_requests(self, stored: list[dict[str, Any]]) -> None:
        """Resume report requests granted before a restart that the VTN did not repeat."""
        known = {r["report_request_id"] for r in self.report_requests}
        missing = [r for r in stored if r.get("report_request_id") not in known]
        for request in missing:
            await super().create_report(
                {"report_requests": [request], "request_id": utils.generate_id()}
            )

    async def answer(self, event_id: str, modification_number: int, opt: str) -> int | None:
        """Send oadrCreatedEvent; the VTN's response code (None: no answer)."""
        request_id = utils.generate_id()
        message = self._create_message(
            "oadrCreatedEvent",
            ven_id=self.ven_id,
            response={"response_code": 200, "response_description": "OK",
                      "request_id": request_id},
            event_responses=[{
                "response_code": 200, "response_description": "OK",
                "request_id": request_id, "event_id": event_id,
                "modification_number": modification_number, "opt_type": opt,
            }],
        )  # fmt: skip
        response_type, payload = await self._perform_request("EiEvent", message)
        if response_type is None:
            return None
        return int((payload.get("response") or {}).get("response_code") or 0)

    async def change_opt(self, event_id: str, modification_number: int, opt: str) -> bool:
        """A later change of mind about an answered event (oadrCreateOpt)."""
        result = await self.create_opt(
            opt_type=opt,
            opt_reason=enums.OPT_REASON.PARTICIPATING
            if opt == enums.OPT.OPT_IN
            else enums.OPT_REASON.NOT_PARTICIPATING,
            targets=[objects.Target(ven_id=self.ven_id)],
            event_id=event_id,
            modification_number=modification_number,
        )
        return bool(result)

    async def send_report_now(self, report_specifier_id: str) -> bool:
        """Send the report for every request of it now, waiting for the VTN's answer (not
        through openleadr's in-memory queue, which drops a failed send). True when each
        request's report was taken (200)."""
        requests = [
            r for r in list(self.report_requests or [])
            if r.get("report_specifier_id") == report_specifier_id and r.get("r_ids")
        ]  # fmt: skip
        if not requests:
            return False
        for request in requests:
            intervals = []
            for r_id in request["r_ids"]:
                callback = self.report_callbacks.get((report_specifier_id, r_id))
                if callback is None:
                    continue
                result = callback()
                if asyncio.iscoroutine(result):
                    result = await result
                for when, value in result:
                    intervals.append(
                        objects.ReportInterval(
                            dtstart=when,
                            report_payload=objects.ReportPayload(r_id=r_id, value=value),
                        )
                    )
            if not intervals:
                return False
            report = objects.Report(
                report_request_id=request["report_request_id"],
                report_specifier_id=report_specifier_id,
                report_name=enums.REPORT_NAME.TELEMETRY_USAGE,
                intervals=intervals,
                dtstart=min(i.dtstart for i in intervals),
            )
            message = self._create_message(
                "oadrUpdateReport", ven_id=self.ven_id, request_id=utils.generate_id(),
                reports=[report],
            )  # fmt: skip
            response_type, payload = await self._perform_request("EiReport", message)
            code = (payload or {}).get("response", {}).get("response_code")
            if response_type is None or code != 200:
                return False
        return True
