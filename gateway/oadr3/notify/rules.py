"""The notification rules, pure: what a core change is in 3.x, who hears of it, topics, backoff.

Nothing here does I/O; the store, the feed and the delivery worker apply these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class ObjectType(StrEnum):
    PROGRAM = "PROGRAM"
    EVENT = "EVENT"
    REPORT = "REPORT"
    SUBSCRIPTION = "SUBSCRIPTION"
    VEN = "VEN"
    RESOURCE = "RESOURCE"


class Operation(StrEnum):
    CREATE = "CREATE"
    READ = "READ"  # in the spec's enum; the VTN makes no notification of a read
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class DeliveryState(StrEnum):
    OK = "OK"
    FAILING = "FAILING"  # the last delivery failed: retried with backoff
    BROKEN = "BROKEN"  # failed too often in a row: nothing more is sent until it is updated


# A dr_events message (its ``event``) -> the 3.x object it changed, the operation, and the
# message field holding the object's id. One table: a new core message is one line here.
CORE_CHANGES: Mapping[str, tuple[ObjectType, Operation, str]] = {
    # made through the 3.x API only (gateway.oadr3 announces them)
    "oadr3_event_created": (ObjectType.EVENT, Operation.CREATE, "event_id"),
    "oadr3_event_updated": (ObjectType.EVENT, Operation.UPDATE, "event_id"),
    "oadr3_event_deleted": (ObjectType.EVENT, Operation.DELETE, "event_id"),
    "oadr3_report_created": (ObjectType.REPORT, Operation.CREATE, "report_id"),
    "oadr3_report_updated": (ObjectType.REPORT, Operation.UPDATE, "report_id"),
    "oadr3_report_deleted": (ObjectType.REPORT, Operation.DELETE, "report_id"),
    "oadr3_ven_updated": (ObjectType.VEN, Operation.UPDATE, "ven_id"),
    "oadr3_ven_deleted": (ObjectType.VEN, Operation.DELETE, "ven_id"),
    "oadr3_resource_updated": (ObjectType.RESOURCE, Operation.UPDATE, "resource_id"),
    "oadr3_resource_deleted": (ObjectType.RESOURCE, Operation.DELETE, "resource_id"),
    # the core's
    "program_created": (ObjectType.PROGRAM, Operation.CREATE, "program_id"),
    "program_updated": (ObjectType.PROGRAM, Operation.UPDATE, "program_id"),
    "program_enrolled": (ObjectType.PROGRAM, Operation.UPDATE, "program_id"),
    "program_unenrolled": (ObjectType.PROGRAM, Operation.UPDATE, "program_id"),
    "program_deleted": (ObjectType.PROGRAM, Operation.DELETE, "program_id"),
    "ven_provisioned": (ObjectType.VEN, Operation.CREATE, "ven_id"),
    "device_registered": (ObjectType.RESOURCE, Operation.CREATE, "device_id"),
    "invitation_created": (ObjectType.EVENT, Operation.CREATE, "invitation_id"),
    "invitation_modified": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
    "invitation_answered": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
    "invitation_cancelled": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
    "invitation_expired": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
    "event_scheduled": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
    "event_cancelled": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
    "event_missed": (ObjectType.EVENT, Operation.UPDATE, "invitation_id"),
}


@dataclass(frozen=True, slots=True)
class CoreChange:
    object_type: ObjectType
    operation: Operation
    object_id: str
    key: str  # the message's id: a change heard twice is notified once


def core_change(message: Mapping[str, object]) -> CoreChange | None:
    """The 3.x change a dr_events message announces; None for one 3.x clients do not see."""
    known = CORE_CHANGES.get(str(message.get("event")))
    if known is None:
        return None
    object_type, operation, id_field = known
    object_id, key = message.get(id_field), message.get("message_id")
    if not isinstance(object_id, str) or not isinstance(key, str):
        return None
    return CoreChange(object_type, operation, object_id, key)


@dataclass(frozen=True, slots=True)
class Subject:
    """The changed object as 3.x clients see it, and who may see it."""

    object_type: ObjectType
    body: Mapping[str, object]  # the 3.x representation (for DELETE: the last one known)
    program_id: str | None = None
    # The VENs that may read it; None: every VEN (an untargeted program or event).
    ven_ids: frozenset[str] | None = None
    owner_client_id: str | None = None  # a subscription's client: only it (and BL) may see it
    # For a targeted object: the targets each VEN in ``ven_ids`` is shown (target hiding).
    shown_targets: Mapping[str, tuple[str, ...]] | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        raw = self.body.get("targets")
        return tuple(str(t) for t in raw) if isinstance(raw, list) else ()


@dataclass(frozen=True, slots=True)
class Callback:
    objects: frozenset[ObjectType]
    operations: frozenset[Operation]
    url: str
    bearer_token: str | None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """What the rules need of a stored subscription."""

    client_id: str
    business: bool  # a business-logic client sees every object; a VEN client only its own
    ven_id: str | None
    program_id: str | None
    callbacks: tuple[Callback, ...]
    targets: tuple[str, ...]
    broken: bool = False


def may_see(subscriber: Subscriber, subject: Subject) -> bool:
    """Definition.md, Object Privacy: BL sees everything; a VEN its own VEN, resources,
    reports and subscriptions, and the programs and events given to it."""
    if subscriber.business:
        return True
    if subject.owner_client_id is not None:
        return subject.owner_client_id == subscriber.client_id
    if subject.ven_ids is None:
        return True
    return subscriber.ven_id is not None and subscriber.ven_id in subject.ven_ids


def _program_matches(subscriber: Subscriber, subject: Subject) -> bool:
    if subscriber.program_id is None:
        return True
    return subject.program_id == subscriber.program_id


def _targets_match(subscriber: Subscriber, subject: Subject) -> bool:
    """A subscription's targets filter as in response filtering: an object without targets
    concerns everyone; one with targets must share one with the subscription."""
    if not subscriber.targets or not subject.targets:
        return True
    return not set(subscriber.targets).isdisjoint(subject.targets)


def callbacks_for(subscriber: Subscriber, subject: Subject, operation: Operation) -> list[Callback]:
    """The callbacks of ``subscriber`` to notify of ``operation`` on ``subject``."""
    if subscriber.broken or operation is Operation.READ:
        return []
    if not (
        may_see(subscriber, subject)
        and _program_matches(subscriber, subject)
        and _targets_match(subscriber, subject)
    ):
        return []
    return [
        callback
        for callback in subscriber.callbacks
        if subject.object_type in callback.objects and operation in callback.operations
    ]


def notification(
    subject: Subject, operation: Operation, for_ven: str | None = None
) -> dict[str, object]:
    """The spec's notification object (objectType, operation, object, targets); ``for_ven``:
    told to that VEN's client, a targeted object shows only the targets granted to it."""
    obj = dict(subject.body)
    targets = list(subject.targets)
    if for_ven is not None and subject.shown_targets is not None:
        targets = list(subject.shown_targets.get(for_ven, ()))
        obj.pop("targets", None)
        if targets:
            obj["targets"] = targets
    body: dict[str, object] = {
        "objectType": subject.object_type.value,
        "operation": operation.value,
        "object": obj,
    }
    if targets:
        body["targets"] = targets
    return body


# Delivery: capped exponential backoff, then the subscription is marked broken.
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=5)
    broken_after: int = 8  # failed deliveries in a row

    def delay(self, attempts: int) -> timedelta:
        """The wait before the next try, after ``attempts`` failed ones (>= 1)."""
        exponent = min(max(attempts - 1, 0), 30)
        return min(self.first_delay * (1 << exponent), self.max_delay)

    def is_broken(self, consecutive_failures: int) -> bool:
        return consecutive_failures >= self.broken_after


def delivery_state(consecutive_failures: int, broken: bool) -> DeliveryState:
    if broken:
        return DeliveryState.BROKEN
    return DeliveryState.FAILING if consecutive_failures else DeliveryState.OK


# MQTT topics (Definition.md, Notifications via Additional Protocols): one per collection and
# operation, "ALL" as the single-level wildcard; an object's own topics have no CREATE.
_TOPIC_OPERATIONS = (Operation.CREATE, Operation.UPDATE, Operation.DELETE)


def topic_names(collection: str, *, with_create: bool = True) -> dict[str, str]:
    names = {
        op.value: f"{collection}/{op.value.lower()}"
        for op in _TOPIC_OPERATIONS
        if with_create or op is not Operation.CREATE
    }
    names["ALL"] = f"{collection}/+"
    return names


def topics_of(
    subject: Subject, object_id: str, operation: Operation, ven_ids: Iterable[str]
) -> list[str]:
    """Every topic a change is published on; ``ven_ids``: the VENs that may see it."""
    op = operation.value.lower()
    kind = subject.object_type
    topics: list[str] = []
    own = operation is not Operation.CREATE
    if kind is ObjectType.PROGRAM:
        topics.append(f"programs/{op}")
        if own:
            topics.append(f"programs/{object_id}/{op}")
        topics += [f"vens/{ven}/programs/{op}" for ven in ven_ids]
    elif kind is ObjectType.EVENT:
        topics.append(f"events/{op}")
        if subject.program_id is not None:
            topics.append(f"programs/{subject.program_id}/events/{op}")
        topics += [f"vens/{ven}/events/{op}" for ven in ven_ids]
    elif kind is ObjectType.VEN:
        topics.append(f"vens/{op}")
        if own:
            topics.append(f"vens/{object_id}/{op}")
    elif kind is ObjectType.RESOURCE:
        topics.append(f"resources/{op}")
        topics += [f"vens/{ven}/resources/{op}" for ven in ven_ids]
    elif kind is ObjectType.REPORT:
        topics.append(f"reports/{op}")
    elif kind is ObjectType.SUBSCRIPTION:
        topics.append(f"subscriptions/{op}")
    return topics
