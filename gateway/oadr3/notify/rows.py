"""A stored subscription in 3.x terms: its JSON representation and what the rules need."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.oadr3.notify.models import SubscriptionRow
from gateway.oadr3.notify.rules import (
    Callback,
    ObjectType,
    Operation,
    Subject,
    Subscriber,
    delivery_state,
)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: ``2026-12-02T04:20:17.123Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def operations_json(callbacks: Sequence[Callback]) -> list[dict[str, Any]]:
    return [
        {
            "objects": sorted(o.value for o in c.objects),
            "operations": sorted(o.value for o in c.operations),
            "callbackUrl": c.url,
            "bearerToken": c.bearer_token,
        }
        for c in callbacks
    ]


def callbacks_of(row: SubscriptionRow) -> tuple[Callback, ...]:
    return tuple(
        Callback(
            objects=frozenset(ObjectType(o) for o in item["objects"]),
            operations=frozenset(Operation(o) for o in item["operations"]),
            url=item["callbackUrl"],
            bearer_token=item.get("bearerToken"),
        )
        for item in row.object_operations
    )


def representation(row: SubscriptionRow) -> dict[str, Any]:
    """The spec's subscription object, with its delivery health beside (``deliveryStatus``);
    no programID when it names none (an objectID is not nullable)."""
    body = {
        "id": row.id,
        "createdDateTime": rfc3339(row.created_at),
        "modificationDateTime": rfc3339(row.modified_at),
        "objectType": ObjectType.SUBSCRIPTION.value,
        "clientID": row.client_id,
        "clientName": row.client_name,
        "programID": row.program_id,
        "objectOperations": row.object_operations,
        "targets": row.targets,
        "deliveryStatus": {
            "state": delivery_state(row.consecutive_failures, row.broken_at is not None).value,
            "consecutiveFailures": row.consecutive_failures,
            "lastError": row.last_error,
            "brokenSince": None if row.broken_at is None else rfc3339(row.broken_at),
        },
    }
    if row.program_id is None:
        del body["programID"]
    return body


def subscriber_of(row: SubscriptionRow) -> Subscriber:
    return Subscriber(
        client_id=row.client_id,
        business=row.client_role == "BL",
        ven_id=row.ven_id,
        program_id=row.program_id,
        callbacks=callbacks_of(row),
        targets=tuple(row.targets or ()),
        broken=row.broken_at is not None,
    )


def subject_of(row: SubscriptionRow) -> Subject:
    return subject_from(representation(row))


def subject_from(subscription: dict[str, Any]) -> Subject:
    """A subscription as a notification tells it: its callbacks' bearer tokens left out, since
    other clients (BL, an MQTT topic's readers) may read the notification."""
    body = {k: v for k, v in subscription.items() if k != "deliveryStatus"}
    body["objectOperations"] = [
        {**item, "bearerToken": None} for item in subscription["objectOperations"]
    ]
    return Subject(
        ObjectType.SUBSCRIPTION,
        body,
        program_id=subscription.get("programID"),
        owner_client_id=subscription["clientID"],
    )
