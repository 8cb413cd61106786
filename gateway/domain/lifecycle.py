"""Invitation and event lifecycles: everything that moves a state lives in these two tables.

An illegal move raises ``IllegalTransition`` and the caller's state is left as it was (the
functions are pure: they return the next state, they never mutate).
"""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.errors import IllegalTransition


class InvitationStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class InvitationTrigger(StrEnum):
    ACCEPT = "accept"  # the answers decided for the event
    DECLINE = "decline"  # the answers decided against it
    EXPIRE = "expire"  # the event time came before the answers decided
    CANCEL = "cancel"  # the operator (or the upstream VTN) called it off
    MODIFY = "modify"  # its terms changed: the devices are asked again


INVITATION_TRANSITIONS: dict[tuple[InvitationStatus, InvitationTrigger], InvitationStatus] = {
    (InvitationStatus.PENDING, InvitationTrigger.ACCEPT): InvitationStatus.SCHEDULED,
    (InvitationStatus.PENDING, InvitationTrigger.DECLINE): InvitationStatus.CANCELLED,
    (InvitationStatus.PENDING, InvitationTrigger.EXPIRE): InvitationStatus.EXPIRED,
    (InvitationStatus.PENDING, InvitationTrigger.CANCEL): InvitationStatus.CANCELLED,
    (InvitationStatus.SCHEDULED, InvitationTrigger.CANCEL): InvitationStatus.CANCELLED,
    (InvitationStatus.PENDING, InvitationTrigger.MODIFY): InvitationStatus.PENDING,
    (InvitationStatus.SCHEDULED, InvitationTrigger.MODIFY): InvitationStatus.PENDING,
}


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    MISSED = "missed"


class EventTrigger(StrEnum):
    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"
    MISS = "miss"  # the whole window passed without the event being run


EVENT_TRANSITIONS: dict[tuple[EventStatus, EventTrigger], EventStatus] = {
    (EventStatus.SCHEDULED, EventTrigger.START): EventStatus.ACTIVE,
    (EventStatus.SCHEDULED, EventTrigger.CANCEL): EventStatus.CANCELLED,
    (EventStatus.SCHEDULED, EventTrigger.MISS): EventStatus.MISSED,
    (EventStatus.ACTIVE, EventTrigger.COMPLETE): EventStatus.COMPLETED,
    (EventStatus.ACTIVE, EventTrigger.CANCEL): EventStatus.CANCELLED,
}

OPEN_EVENT_STATUSES = frozenset({EventStatus.SCHEDULED, EventStatus.ACTIVE})


def next_invitation_status(
    current: InvitationStatus, trigger: InvitationTrigger
) -> InvitationStatus:
    try:
        return INVITATION_TRANSITIONS[(current, trigger)]
    except KeyError:
        raise IllegalTransition(f"an invitation that is {current} cannot {trigger}") from None


def next_event_status(current: EventStatus, trigger: EventTrigger) -> EventStatus:
    try:
        return EVENT_TRANSITIONS[(current, trigger)]
    except KeyError:
        raise IllegalTransition(f"an event that is {current} cannot {trigger}") from None


class ReportRequestStatus(StrEnum):
    """A report the gateway asked of a VEN: asked, taken by the VEN, or called off."""

    REQUESTED = "requested"
    CREATED = "created"
    CANCELLED = "cancelled"


# What a report request may become, and from what: the VEN's oadrCreatedReport takes one
# asked, and never brings back one called off meanwhile (it may answer after the cancel).
_REPORT_REQUEST_FROM: dict[ReportRequestStatus, frozenset[ReportRequestStatus]] = {
    ReportRequestStatus.CREATED: frozenset({ReportRequestStatus.REQUESTED}),
    ReportRequestStatus.CANCELLED: frozenset(
        {ReportRequestStatus.REQUESTED, ReportRequestStatus.CREATED}
    ),
}


def report_request_sources(target: ReportRequestStatus) -> frozenset[ReportRequestStatus]:
    """The statuses a report request may move to ``target`` from."""
    return _REPORT_REQUEST_FROM.get(target, frozenset())
