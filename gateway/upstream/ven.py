"""The gateway's registration with the utility's VTN, and the messages sent in its name.

It keeps what a registration gives (venID, registrationID, the poll frequency asked for) and
sends through the port (``port.VtnLink``); it answers nothing by itself: every event is handed
to the gateway, which answers once the downstream has decided (or at the deadline).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gateway.upstream.port import Reply, VtnLink, reply_code
from gateway.upstream.rules import Opt

logger = logging.getLogger(__name__)

DEFAULT_POLL = timedelta(seconds=10)


class UpstreamVen:
    def __init__(self, link: VtnLink, ven_name: str, ven_id: str | None) -> None:
        self.link = link
        self.ven_name = ven_name
        self.ven_id = ven_id
        self.registration_id: str | None = None
        self.poll_frequency: timedelta | None = None

    @property
    def registered(self) -> bool:
        return self.registration_id is not None and self.ven_id is not None

    async def register(self, *, again: bool = False) -> bool:
        """oadrCreatePartyRegistration (``again``: with the current registrationID, as an
        oadrRequestReregistration asks); True when the VTN gave a venID and registrationID."""
        if not again:
            self.registration_id = None
            await self.link.query_registration()
        reply = await self.link.create_party_registration(
            self.ven_name, self.ven_id, self.registration_id if again else None
        )
        if reply is None or reply_code(reply) != 200:
            logger.warning("upstream: registration refused or unanswered")
            self.registration_id = None
            return False
        payload = reply[1]
        given_ven = payload.get("ven_id")
        if given_ven and self.ven_id and given_ven != self.ven_id:
            logger.warning("upstream: the VTN gave venID %s (was %s)", given_ven, self.ven_id)
        self.ven_id = str(given_ven) if given_ven else self.ven_id
        registration = payload.get("registration_id")
        self.registration_id = str(registration) if registration else None
        frequency = payload.get("requested_oadr_poll_freq")
        self.poll_frequency = frequency if isinstance(frequency, timedelta) else DEFAULT_POLL
        return self.registered

    def _ven(self) -> str:
        if self.ven_id is None:
            raise RuntimeError("the upstream VEN is not registered")
        return self.ven_id

    async def poll(self) -> Reply | None:
        return await self.link.poll(self._ven())

    async def events(self) -> list[dict[str, Any]] | None:
        """The VTN's current events (oadrRequestEvent); None when it did not answer."""
        reply = await self.link.request_event(self._ven())
        if reply is None:
            return None
        return list(reply[1].get("events") or [])

    async def answer(self, event_id: str, modification_number: int, opt: Opt) -> int | None:
        """oadrCreatedEvent; the VTN's response code (None: no answer)."""
        return await self.link.created_event(self._ven(), event_id, modification_number, opt)

    async def change_opt(self, event_id: str, modification_number: int, opt: Opt) -> bool:
        """oadrCreateOpt: a later change of mind about an answered event."""
        return await self.link.create_opt(self._ven(), event_id, modification_number, opt)

    async def acknowledge(self, service: str, request_id: Any) -> None:
        await self.link.response(service, self._ven(), request_id)

    async def cancelled_by_vtn(self, payload: dict[str, Any]) -> None:
        """oadrCancelPartyRegistration: acknowledged, and this registration ends (the gateway
        registers again). One for another registrationID is refused (452)."""
        asked = payload.get("registration_id")
        if not self.registered or asked is None:
            return
        code = 200 if asked == self.registration_id else 452
        await self.link.canceled_party_registration(
            self._ven(), self.registration_id, payload.get("request_id"), code
        )
        if code == 200:
            self.registration_id = None
