"""The invitation and event transition tables: every allowed move, and the forbidden ones."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import Conflict, GatewayError, IllegalTransition
from gateway.domain.lifecycle import (
    EVENT_TRANSITIONS,
    INVITATION_TRANSITIONS,
    OPEN_EVENT_STATUSES,
    EventStatus,
    EventTrigger,
    InvitationStatus,
    InvitationTrigger,
    next_event_status,
    next_invitation_status,
)

ALLOWED_INVITATION_MOVES = [
    (InvitationStatus.PENDING, InvitationTrigger.ACCEPT, InvitationStatus.SCHEDULED),
    (InvitationStatus.PENDING, InvitationTrigger.DECLINE, InvitationStatus.CANCELLED),
    (InvitationStatus.PENDING, InvitationTrigger.EXPIRE, InvitationStatus.EXPIRED),
    (InvitationStatus.PENDING, InvitationTrigger.CANCEL, InvitationStatus.CANCELLED),
    (InvitationStatus.SCHEDULED, InvitationTrigger.CANCEL, InvitationStatus.CANCELLED),
    (InvitationStatus.PENDING, InvitationTrigger.MODIFY, InvitationStatus.PENDING),
    (InvitationStatus.SCHEDULED, InvitationTrigger.MODIFY, InvitationStatus.PENDING),
]

ALLOWED_EVENT_MOVES = [
    (EventStatus.SCHEDULED, EventTrigger.START, EventStatus.ACTIVE),
    (EventStatus.SCHEDULED, EventTrigger.CANCEL, EventStatus.CANCELLED),
    (EventStatus.SCHEDULED, EventTrigger.MISS, EventStatus.MISSED),
    (EventStatus.ACTIVE, EventTrigger.COMPLETE, EventStatus.COMPLETED),
    (EventStatus.ACTIVE, EventTrigger.CANCEL, EventStatus.CANCELLED),
]


def test_illegal_transition_is_a_conflict() -> None:
    assert issubclass(IllegalTransition, Conflict)
    assert issubclass(IllegalTransition, GatewayError)
    assert IllegalTransition.code == "illegal_transition"


@pytest.mark.parametrize(("current", "trigger", "expected"), ALLOWED_INVITATION_MOVES)
def test_allowed_invitation_transition(
    current: InvitationStatus, trigger: InvitationTrigger, expected: InvitationStatus
) -> None:
    assert next_invitation_status(current, trigger) is expected


@pytest.mark.parametrize(("current", "trigger", "expected"), ALLOWED_EVENT_MOVES)
def test_allowed_event_transition(
    current: EventStatus, trigger: EventTrigger, expected: EventStatus
) -> None:
    assert next_event_status(current, trigger) is expected


def test_invitation_table_has_exactly_the_listed_moves() -> None:
    assert {(c, t): n for c, t, n in ALLOWED_INVITATION_MOVES} == INVITATION_TRANSITIONS


def test_event_table_has_exactly_the_listed_moves() -> None:
    assert {(c, t): n for c, t, n in ALLOWED_EVENT_MOVES} == EVENT_TRANSITIONS


def test_open_event_statuses_are_scheduled_and_active() -> None:
    assert frozenset({EventStatus.SCHEDULED, EventStatus.ACTIVE}) == OPEN_EVENT_STATUSES


@pytest.mark.parametrize(
    ("current", "trigger"),
    [
        (EventStatus.COMPLETED, EventTrigger.CANCEL),
        (EventStatus.CANCELLED, EventTrigger.START),
        (EventStatus.MISSED, EventTrigger.START),
        (EventStatus.SCHEDULED, EventTrigger.COMPLETE),
        (EventStatus.ACTIVE, EventTrigger.START),
        (EventStatus.ACTIVE, EventTrigger.MISS),
        (EventStatus.COMPLETED, EventTrigger.COMPLETE),
        (EventStatus.CANCELLED, EventTrigger.CANCEL),
    ],
)
def test_illegal_event_transition_raises(current: EventStatus, trigger: EventTrigger) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_event_status(current, trigger)
    assert info.value.message == f"an event that is {current} cannot {trigger}"


@pytest.mark.parametrize(
    ("current", "trigger"),
    [
        (InvitationStatus.SCHEDULED, InvitationTrigger.ACCEPT),
        (InvitationStatus.SCHEDULED, InvitationTrigger.DECLINE),
        (InvitationStatus.CANCELLED, InvitationTrigger.ACCEPT),
        (InvitationStatus.EXPIRED, InvitationTrigger.ACCEPT),
        (InvitationStatus.EXPIRED, InvitationTrigger.EXPIRE),
    ],
)
def test_illegal_invitation_transition_raises(
    current: InvitationStatus, trigger: InvitationTrigger
) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_invitation_status(current, trigger)
    assert info.value.message == f"an invitation that is {current} cannot {trigger}"


def test_every_pair_outside_the_event_table_is_illegal() -> None:
    illegal = 0
    for current, trigger in itertools.product(EventStatus, EventTrigger):
        if (current, trigger) in EVENT_TRANSITIONS:
            continue
        with pytest.raises(IllegalTransition):
            next_event_status(current, trigger)
        illegal += 1
    assert illegal == len(EventStatus) * len(EventTrigger) - len(ALLOWED_EVENT_MOVES)


def test_every_pair_outside_the_invitation_table_is_illegal() -> None:
    illegal = 0
    for current, trigger in itertools.product(InvitationStatus, InvitationTrigger):
        if (current, trigger) in INVITATION_TRANSITIONS:
            continue
        with pytest.raises(IllegalTransition):
            next_invitation_status(current, trigger)
        illegal += 1
    assert illegal == len(InvitationStatus) * len(InvitationTrigger) - len(ALLOWED_INVITATION_MOVES)


def test_illegal_transition_hides_the_key_error() -> None:
    with pytest.raises(IllegalTransition) as info:
        next_event_status(EventStatus.COMPLETED, EventTrigger.START)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True
