"""Runs the upstream VEN: connects (with backoff), turns upstream events into invitations,
answers them when the downstream decides (or by default at the deadline), sends later changes
of mind as opts, and reports telemetry and achieved reduction.

Nothing here blocks the downstream side: it runs as its own task, every failure is contained
and retried, and everything it must not forget is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from openleadr import objects
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from gateway.bus.power import RedisPowerReader
from gateway.db.models import UpstreamEventRow
from gateway.domain.errors import GatewayError, NotFound
from gateway.domain.invitations import InvitationRequest
from gateway.domain.upstream import (
    Opt,
    UnusableEvent,
    UpstreamTerms,
    opt_for,
    read_event,
    target_devices,
)
from gateway.executor.lease import EventLease
from gateway.jsonable import from_jsonable, to_jsonable
from gateway.services.container import Services
from gateway.settings import UpstreamSettings
from gateway.supervisor import end_tasks, pause
from gateway.upstream.store import UpstreamStore
from gateway.upstream.ven import GatewayVen

logger = logging.getLogger(__name__)

# Both reports are TELEMETRY_USAGE reports, the kind any VTN (openleadr's included) requests:
# the aggregated power of the gateway's devices, and the achieved reduction of the current
# (or last finished) upstream event: average kW, kWh and coverage (%).
TELEMETRY_SPECIFIER = "gateway-telemetry"
REDUCTION_SPECIFIER = "gateway-reduction"
R_POWER = "gateway-power-kw"
R_REDUCTION_KW = "reduction-kw"
R_REDUCTION_KWH = "reduction-kwh"
R_COVERAGE = "reduction-coverage"
RESOURCE = "gateway"
TICK_SECONDS = 0.5
LEASE_SECONDS = 10.0
LEASE_NAME = "ven"
TAKING = "being taken"
# How long the serving task may take to close the client, and then to answer a cancel.
CLOSE_SECONDS = 1.0


def sampling_rate(shortest: timedelta) -> objects.SamplingRate:
    return objects.SamplingRate(min_period=shortest, max_period=timedelta(hours=1), on_change=False)


class UpstreamRunner:
    def __init__(self, config: UpstreamSettings, services: Services) -> None:
        self._config = config
        self._services = services
        self._clock = services.clock
        self._store = UpstreamStore(services.db)
        self._power = RedisPowerReader(
            services.redis,
            services.settings.redis_prefix,
            timedelta(seconds=services.settings.power_max_age_seconds),
        )
        self.ven: GatewayVen | None = None
        self.connected = asyncio.Event()
        self.reduction: dict[str, float | None] | None = None
        self._reduction_event: str | None = None
        self._sampled_kw: float | None = None

    # --- connection -----------------------------------------------------------------------
    def _new_ven(self) -> GatewayVen:
        c = self._config
        ven = GatewayVen(
            on_events=self.on_events,
            on_report_requests=self._save_report_requests,
            on_report_cancelled=self._report_cancelled,
            ven_name=c.ven_name,
            vtn_url=c.vtn_url,
            ven_id=c.ven_id,
            cert=str(c.cert) if c.cert else None,
            key=str(c.key) if c.key else None,
            ca_file=str(c.ca_file) if c.ca_file else None,
            vtn_fingerprint=c.vtn_fingerprint,
        )
        sampling = timedelta(seconds=1)
        ven.add_report(
            callback=self._telemetry, resource_id=RESOURCE, measurement="power_real", scale="k",
            report_specifier_id=TELEMETRY_SPECIFIER, r_id=R_POWER,
            sampling_rate=sampling_rate(sampling), report_duration=timedelta(hours=1),
        )  # fmt: skip
        for r_id, measurement in ((R_REDUCTION_KW, "power_real"), (R_REDUCTION_KWH, "energy_real")):
            ven.add_report(
                callback=self._reduction_value(r_id), resource_id=RESOURCE,
                measurement=measurement, scale="k", report_name="TELEMETRY_USAGE",
                report_specifier_id=REDUCTION_SPECIFIER, r_id=r_id,
                sampling_rate=sampling_rate(sampling), report_duration=timedelta(hours=1),
            )  # fmt: skip
        ven.add_report(
            callback=self._reduction_value(R_COVERAGE), resource_id=RESOURCE,
            measurement="coverage", unit="%", report_name="TELEMETRY_USAGE",
            report_specifier_id=REDUCTION_SPECIFIER, r_id=R_COVERAGE,
            sampling_rate=sampling_rate(sampling), report_duration=timedelta(hours=1),
        )  # fmt: skip
        return ven

    async def run(self, stopping: asyncio.Event) -> None:
        """Serve upstream while this process holds the upstream lease: of several gateway
        replicas, exactly one is the utility's VEN; another takes over when it dies. Ends,
        with the client closed and the lease released, soon after ``stopping`` is set."""
        lease = EventLease(
            self._services.redis, self._services.settings.redis_prefix, uuid.uuid4().hex,
            LEASE_SECONDS, kind="upstream",
        )  # fmt: skip
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
            ven = self._new_ven()
            try:
                if await self._connect(ven):
                    delay = self._config.reconnect_min_seconds
                    await self._serve(ven, stopping)
            except asyncio.CancelledError:
                await self._close(ven)
                raise
            except Exception:
                logger.exception("upstream VEN failed; reconnecting")
            await self._close(ven)
            if stopping.is_set():
                return
            logger.warning(
                "upstream VTN %s unreachable; retrying in %.0f s", self._config.vtn_url, delay
            )
            if await pause(stopping, delay):
                return
            delay = min(delay * 2, self._config.reconnect_max_seconds)

    async def _connect(self, ven: GatewayVen) -> bool:
        await ven.query_registration()
        result = await ven.create_party_registration(ven_id=ven.ven_id)
        if result is None or not ven.registration_id:
            return False
        logger.info("upstream: registered as %s (%s)", ven.ven_id, ven.registration_id)
        ven.loop = asyncio.get_running_loop()
        ven.scheduler.start()
        await ven.register_reports(ven.reports)
        await ven.restore_report_requests(
            [from_jsonable(r) for r in await self._store.report_requests()]
        )
        ven.report_queue_task = asyncio.create_task(ven._report_queue_worker())
        await ven.sync_events()
        self.ven = ven
        self.connected.set()
        return True

    async def _serve(self, ven: GatewayVen, stopping: asyncio.Event) -> None:
        interval = (
            timedelta(seconds=self._config.poll_interval_seconds)
            if self._config.poll_interval_seconds
            else ven.poll_frequency or timedelta(seconds=10)
        ).total_seconds()
        next_poll = 0.0
        failures = 0
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            if loop.time() >= next_poll:
                next_poll = loop.time() + interval
                response = await ven.poll()
                if not response or response[0] is None:
                    failures += 1
                    if failures >= 3:
                        logger.warning("upstream: %d polls failed; reconnecting", failures)
                        return
                else:
                    failures = 0
                    await self._handle_poll(ven, response)
                if not ven.registration_id:
                    return  # the VTN cancelled our registration: register again
            await self.tick(ven)
            await pause(stopping, TICK_SECONDS)

    async def _handle_poll(self, ven: GatewayVen, response: tuple[str, dict[str, Any]]) -> None:
        response_type, payload = response
        if response_type == "oadrDistributeEvent":
            await self.on_events(list(payload.get("events") or []))
        elif response_type == "oadrRequestReregistration":
            await ven.send_response(service="EiRegisterParty")
            await ven.create_party_reregistration()
        elif response_type == "oadrCreateReport":
            await ven.create_report(payload)
        elif response_type == "oadrCancelReport":
            await ven.cancel_report(payload)
        elif response_type == "oadrCancelPartyRegistration":
            await ven.on_cancel_party_registration(payload)

    async def _close(self, ven: GatewayVen) -> None:
        self.connected.clear()
        if self.ven is ven:
            self.ven = None
        try:
            if ven.scheduler.running:
                ven.scheduler.shutdown(wait=False)
            await ven.stop_report_workers(CLOSE_SECONDS)
            if ven.client_session is not None:
                await ven.client_session.close()
        except Exception as err:  # closing must not hide the reason we are closing
            logger.warning("upstream: closing the client: %s", err)

    # --- events in ------------------------------------------------------------------------
    async def on_events(self, events: list[dict[str, Any]]) -> None:
        now = self._clock.now()
        seen: set[str] = set()
        for event in events:
            descriptor = event.get("event_descriptor") or {}
            event_id = descriptor.get("event_id")
            if isinstance(event_id, str) and event_id:
                seen.add(event_id)
            try:
                terms = read_event(event)
            except Exception as err:  # anything a VTN sends: refused, answered, never fatal
                logger.warning("upstream: event %s not usable: %s", event_id, err)
                if isinstance(event_id, str) and event_id:
                    await self._refuse(event_id, descriptor, f"not taken: {err}", now)
                continue
            try:
                await self._take(terms, now)
            except Exception:
                logger.exception("upstream: event %s not taken; it comes again", terms.event_id)
        for row in await self._store.open_events(now):
            if row.event_id not in seen and row.start_time > now - timedelta(days=1):
                # Leaving an event out of oadrDistributeEvent cancels it (OpenADR 2.0b).
                await self._cancel(row, "omitted from the upstream event list", now)

    async def _refuse(
        self, event_id: str, descriptor: dict[str, Any], why: str, now: datetime
    ) -> None:
        """An event that cannot become an invitation is still answered (optOut, with why)."""
        modification = descriptor.get("modification_number")
        modification = modification if isinstance(modification, int) else 0
        row = await self._store.get(event_id)
        if row is not None:
            if row.modification_number < modification:
                await self._store.change(
                    event_id, modification_number=modification, note=why[:500], updated_at=now
                )
            return
        await self._store.add(
            UpstreamEventRow(
                event_id=event_id[:128], modification_number=modification, invitation_id=None,
                test_event=bool(descriptor.get("test_event")), start_time=now, end_time=now,
                received_at=now, updated_at=now, response_due_at=now, cancelled=False,
                note=why[:500],
            )
        )  # fmt: skip

    async def _take(self, terms: UpstreamTerms, now: datetime) -> None:
        row = await self._store.get(terms.event_id)
        if row is None:
            await self._first_sight(terms, now)
        elif terms.modification_number > row.modification_number:
            await self._modified(row, terms, now)
        elif row.invitation_id is None and row.note == TAKING:
            await self._make_invitation(row.event_id, terms)  # a crash came in between
        # else: delivered again, nothing new

    def _due(self, terms: UpstreamTerms, now: datetime) -> datetime:
        due = now + timedelta(seconds=self._config.response_deadline_seconds)
        return min(due, max(now, terms.start))

    async def _first_sight(self, terms: UpstreamTerms, now: datetime) -> None:
        """The event is claimed (its row written) before its invitation is made, so a
        re-delivery, a crash or a second replica can never make a second invitation."""
        row = UpstreamEventRow(
            event_id=terms.event_id, modification_number=terms.modification_number,
            invitation_id=None, test_event=terms.test_event, start_time=terms.start,
            end_time=terms.start + terms.duration, received_at=now, updated_at=now,
            response_due_at=self._due(terms, now), cancelled=terms.cancelled, note=TAKING,
        )  # fmt: skip
        if terms.test_event:
            row.note = "test event: answered, never executed"
        elif terms.cancelled:
            row.note = "cancelled before it was taken"
        elif terms.asks_for_nothing:
            row.note = "the event asks for no load reduction"
        try:
            await self._store.add(row)
        except IntegrityError:
            return  # claimed already
        if row.note == TAKING:
            await self._make_invitation(row.event_id, terms)

    async def _make_invitation(self, event_id: str, terms: UpstreamTerms) -> None:
        invitation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self._config.vtn_url}#{event_id}"))
        try:
            # Made before a crash that came ahead of linking it: link that one.
            view = await self._services.invitations.get(invitation_id, use_cache=False)
        except NotFound:
            pass
        else:
            await self._store.change(event_id, invitation_id=view.id, note=None)
            return
        try:
            view = await self._invite(terms, invitation_id)
        except (GatewayError, UnusableEvent) as err:
            note = f"not taken: {getattr(err, 'message', err)}"[:500]
            await self._store.change(event_id, note=note)
            logger.info("upstream event %s: %s", event_id, note)
            return
        await self._store.change(event_id, invitation_id=view.id, note=None)
        logger.info("upstream event %s: invitation %s", event_id, view.id)

    async def _invite(self, terms: UpstreamTerms, invitation_id: str) -> Any:
        devices = await self._targets(terms)
        if not devices:
            raise UnusableEvent("no device of this gateway is targeted")
        request = InvitationRequest(
            event_time=terms.start,
            duration_minutes=terms.duration_minutes,
            load_kwh=terms.load_kwh,
            load_percentage=terms.load_percentage,
            device_ids=tuple(devices),
        )
        services = self._services
        view = await services.invitations.create(
            request, await services.auto_response.config(), invitation_id
        )
        return await services.auto_response.respond_if_due(view)

    async def _targets(self, terms: UpstreamTerms) -> list[str]:
        devices = {d.id: d.resource_id for d in await self._services.devices.all()}
        return target_devices(self._config.devices, devices, terms.resource_ids)

    async def _modified(self, row: UpstreamEventRow, terms: UpstreamTerms, now: datetime) -> None:
        changes: dict[str, Any] = {
            "modification_number": terms.modification_number,
            "start_time": terms.start,
            "end_time": terms.start + terms.duration,
            "updated_at": now,
            "response_due_at": self._due(terms, now),
        }
        if terms.cancelled:
            await self._cancel(row, "cancelled upstream", now, **changes)
            return
        note = row.note
        if row.invitation_id is None and not row.test_event:
            # Not taken before (it asked for nothing, or nothing matched): try again now.
            await self._store.change(row.event_id, note=TAKING, **changes)
            if terms.asks_for_nothing:
                await self._store.change(row.event_id, note="the event asks for no load reduction")
            else:
                await self._make_invitation(row.event_id, terms)
            return
        if row.invitation_id is not None and not row.test_event:
            try:
                devices = await self._targets(terms)
                view = await self._services.invitations.modify(
                    row.invitation_id,
                    InvitationRequest(
                        event_time=terms.start, duration_minutes=terms.duration_minutes,
                        load_kwh=terms.load_kwh, load_percentage=terms.load_percentage,
                        device_ids=tuple(devices),
                    ),
                    await self._services.auto_response.config(),
                )  # fmt: skip
                await self._services.auto_response.respond_if_due(view)
                note = f"modification {terms.modification_number} applied"
            except GatewayError as err:
                note = f"modification {terms.modification_number} not applied: {err.message}"
        await self._store.change(row.event_id, note=note[:500] if note else None, **changes)

    async def _cancel(self, row: UpstreamEventRow, why: str, now: datetime, **changes: Any) -> None:
        if row.invitation_id is not None:
            try:
                await self._services.invitations.cancel(row.invitation_id, why)
            except GatewayError as err:
                logger.info("upstream event %s: invitation not cancelled (%s)", row.event_id, err)
        await self._store.change(row.event_id, cancelled=True, note=why, updated_at=now, **changes)

    # --- answers out ----------------------------------------------------------------------
    async def tick(self, ven: GatewayVen) -> None:
        now = self._clock.now()
        for row in await self._store.to_answer():
            await self._answer(ven, row, now)
        for row in await self._store.answered_open(now):
            await self._reconsider(ven, row, now)
        await self._refresh_reduction(ven, now)

    async def _status(self, invitation_id: str | None) -> str | None:
        if invitation_id is None:
            return None
        try:
            view = await self._services.invitations.get(invitation_id, use_cache=False)
        except NotFound:
            return None
        return view.status

    async def _answer(self, ven: GatewayVen, row: UpstreamEventRow, now: datetime) -> None:
        default = Opt(self._config.default_answer)
        decision: tuple[Opt, str] | None
        if row.test_event:
            decision = Opt.IN, "test event: acknowledged, not executed"
        elif row.cancelled:
            decision = Opt(row.opt_in_force or Opt.OUT.value), "event cancelled upstream"
        elif row.invitation_id is None:
            if row.note == TAKING:
                return  # its invitation is being made
            decision = Opt.OUT, row.note or "not taken"
        else:
            decision = opt_for(
                await self._status(row.invitation_id), now, row.response_due_at, default
            )
        if decision is None:
            return
        opt, reason = decision
        code = await ven.answer(row.event_id, row.modification_number, opt.value)
        if code is None:
            return  # VTN unreachable: tried again next tick
        await self._store.change(
            row.event_id, answer=opt.value, answered_modification=row.modification_number,
            answered_at=now, answer_reason=f"{reason} (VTN answered {code})"[:500],
            opt_in_force=opt.value,
        )  # fmt: skip
        logger.info("upstream event %s: answered %s (%s)", row.event_id, opt.value, reason)

    async def _reconsider(self, ven: GatewayVen, row: UpstreamEventRow, now: datetime) -> None:
        """A later change of mind goes up as an opt (oadrCreateOpt)."""
        status = await self._status(row.invitation_id)
        wanted = {"scheduled": Opt.IN, "cancelled": Opt.OUT, "expired": Opt.OUT}.get(status or "")
        if wanted is None or wanted.value == row.opt_in_force:
            return
        if await ven.change_opt(row.event_id, row.modification_number, wanted.value):
            await self._store.change(
                row.event_id, opt_in_force=wanted.value, updated_at=now,
                note=f"changed to {wanted.value}: the invitation is {status}",
            )  # fmt: skip
            logger.info("upstream event %s: opt changed to %s", row.event_id, wanted.value)

    # --- reports out ----------------------------------------------------------------------
    async def _telemetry(self) -> list[tuple[datetime, float]]:
        devices = self._config.devices or [d.id for d in await self._services.devices.all()]
        now = self._clock.now()
        values = await self._power.read_kw(devices, now)
        present = [v for v in values if v is not None]
        if not present:
            return []  # no reading is no value, never 0 kW
        return [(now, sum(present))]

    def _reduction_value(self, r_id: str) -> Any:
        key = {R_REDUCTION_KW: "average_reduction_kw", R_REDUCTION_KWH: "energy_reduction_kwh",
               R_COVERAGE: "coverage"}[r_id]  # fmt: skip

        def value() -> list[tuple[datetime, float]]:
            if self.reduction is None or self.reduction.get(key) is None:
                return []
            number = float(self.reduction[key] or 0.0)
            return [(self._clock.now(), number * 100 if r_id == R_COVERAGE else number)]

        return value

    async def _refresh_reduction(self, ven: GatewayVen, now: datetime) -> None:
        """Values of the reduction report: the running upstream event's live totals, and at
        its end its final results, pushed up at once."""
        for row in await self._store.awaiting_final_report():
            view = await self._services.invitations.get(row.invitation_id or "", use_cache=False)
            if view.event_id is None:
                if view.status in ("cancelled", "expired") or row.cancelled:
                    await self._store.change(row.event_id, final_report_sent_at=now)
                continue
            event = await self._services.events.get(view.event_id)
            if event.status == "active" and event.live:
                keys = ("average_reduction_kw", "energy_reduction_kwh", "coverage")
                self.reduction = {k: event.live[k] for k in keys}
            elif (
                event.status in ("completed", "cancelled")
                and event.results.average_reduction_kw is not None
            ):
                results = event.results
                self.reduction = {
                    "average_reduction_kw": results.average_reduction_kw,
                    "energy_reduction_kwh": results.energy_reduction_kwh,
                    "coverage": results.coverage,
                }
                if await ven.send_report_now(REDUCTION_SPECIFIER):
                    await self._store.change(row.event_id, final_report_sent_at=now)
                    logger.info("upstream event %s: final reduction report sent", row.event_id)
            elif event.status in ("cancelled", "missed"):
                await self._store.change(row.event_id, final_report_sent_at=now)

    async def _save_report_requests(self, requests: list[dict[str, Any]]) -> None:
        rows = [(str(r.get("report_request_id")), to_jsonable(r)) for r in requests]
        await self._store.save_report_requests(rows, self._clock.now())

    async def _report_cancelled(self, request_id: str) -> None:
        await self._store.cancel_report_request(request_id, self._clock.now())
