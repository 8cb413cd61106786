"""A VEN's optIn/optOut for its devices in one event, taken by the VEN-facing core, with each
refusal as its OpenADR 2.0b code."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain.errors import GatewayError, NotFound
from gateway.domain.invitations import Answer
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.mapping import OadrEvent
from gateway.services.ven_facing.answers import StaleModification, VenAnswerOutcome
from gateway.services.ven_facing.service import VenFacing


async def take_answer(
    vens: VenFacing,
    event: OadrEvent,
    device_ids: Sequence[str],
    answer: Answer,
    modification: int,
    opt_id: str | None = None,
) -> VenAnswerOutcome:
    """The modification is checked against the invitation (or direct event) under its lock
    (450 if the terms changed since), never against a cached copy. ``opt_id``: the answer
    came by oadrCreateOpt (for a direct event it then stands against later answers)."""
    try:
        if event.direct:
            return await vens.answer_direct(
                event.ven_id, event.event_id, device_ids, answer, modification, opt_id
            )
        return await vens.answer(event.ven_id, event.event_id, device_ids, answer, modification)
    except NotFound as err:
        raise OadrError(StatusCode.INVALID_ID, err.message) from err
    except StaleModification as err:
        raise OadrError(StatusCode.OUT_OF_SEQUENCE, err.message) from err
    except GatewayError as err:
        raise OadrError(StatusCode.NOT_ALLOWED, err.message) from err
