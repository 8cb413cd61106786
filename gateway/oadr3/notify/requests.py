"""Reading ``/subscriptions`` requests as the spec's clients write them.

Optional properties may be ``null`` (Definition.md: optional fields are generally nullable);
properties the VTN writes (id, dates, objectType, clientID) are ignored when a client sends a
whole object back. Anything invalid is a ``RequestInvalid`` naming the property.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.oadr3.notify.rules import Callback, ObjectType, Operation
from gateway.oadr3.notify.subscriptions import SubscriptionQuery, SubscriptionTerms

OBJECT_ID = r"^[a-zA-Z0-9_-]*$"
MAX_LIMIT = 50

Text128 = Annotated[str, Field(min_length=1, max_length=128)]


class RequestInvalid(Exception):
    """A request the spec does not allow; the message names what is wrong."""


class _ObjectOperation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    objects: list[ObjectType] = Field(min_length=1)
    operations: list[Operation] = Field(min_length=1)
    callbackUrl: str = Field(min_length=2, max_length=8000)
    bearerToken: str | None = None


class _SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    clientName: Text128
    programID: str | None = Field(default=None, min_length=1, max_length=128, pattern=OBJECT_ID)
    objectOperations: list[_ObjectOperation]
    targets: list[Text128] | None = None


def _where(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def subscription_terms(body: Any) -> SubscriptionTerms:
    if not isinstance(body, dict):
        raise RequestInvalid("the body must be a subscription object")
    try:
        request = _SubscriptionRequest.model_validate(body)
    except ValidationError as err:
        raise RequestInvalid(_where(err)) from err
    return SubscriptionTerms(
        client_name=request.clientName,
        program_id=request.programID,
        callbacks=tuple(
            Callback(
                objects=frozenset(item.objects),
                operations=frozenset(item.operations),
                url=item.callbackUrl,
                bearer_token=item.bearerToken,
            )
            for item in request.objectOperations
        ),
        targets=None if request.targets is None else tuple(request.targets),
    )


def _integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise RequestInvalid(f"{name}: {raw!r} is not an integer") from err
    if not low <= value <= high:
        raise RequestInvalid(f"{name}: must be between {low} and {high}, not {value}")
    return value


def subscription_query(query: Mapping[str, str], objects: list[str]) -> SubscriptionQuery:
    """``objects``: every ``objects`` parameter (repeated, or comma-separated)."""
    program_id = query.get("programID") or None
    if program_id is not None and not _is_object_id(program_id):
        raise RequestInvalid(f"programID: {program_id!r} is not an object id")
    client_name = query.get("clientName") or None
    if client_name is not None and len(client_name) > 128:
        raise RequestInvalid("clientName: at most 128 characters")
    wanted: set[ObjectType] = set()
    for part in (p.strip() for raw in objects for p in raw.split(",")):
        if not part:
            continue
        try:
            wanted.add(ObjectType(part))
        except ValueError as err:
            choices = ", ".join(t.value for t in ObjectType)
            raise RequestInvalid(f"objects: {part!r} is not one of {choices}") from err
    return SubscriptionQuery(
        program_id=program_id,
        client_name=client_name,
        objects=frozenset(wanted),
        skip=_integer(query, "skip", 0, 0, 2**31 - 1),
        limit=_integer(query, "limit", MAX_LIMIT, 0, MAX_LIMIT),
    )


def _is_object_id(value: str) -> bool:
    return 1 <= len(value) <= 128 and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)
