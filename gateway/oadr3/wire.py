"""Reading requests and writing answers of the 3.x API: JSON bodies into ``schemas`` models
(a 400 problem naming each bad field), query parameters, RFC 3339 times, ISO 8601 durations
and each object's metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import isodate
from aiohttp import web
from pydantic import ValidationError

from gateway.domain.text import unstorable_character
from gateway.oadr3.problems import bad_request
from gateway.oadr3.schemas import Spec

S = TypeVar("S", bound=Spec)
MAX_LIMIT = 50  # openadr3.yaml: limit has maximum 50
# "0001-01-01" may mean 'now' (User Guide); "P9999Y" infinity. Both are kept as given.
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def _field_problems(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in err.errors()
    )


async def read_json(request: web.Request, model: type[S]) -> S:
    raw = await request.read()
    if not raw.strip():
        raise bad_request("the request needs a JSON body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request(f"the body is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object")
    if (character := _unstorable(data)) is not None:
        raise bad_request(f"the body holds a character that cannot be stored: {character!r}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise bad_request(_field_problems(err)) from err


def _unstorable(value: Any) -> str | None:
    if isinstance(value, str):
        return unstorable_character(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(key) or _unstorable(item)
            if found is not None:
                return found
    if isinstance(value, list):
        for item in value:
            found = _unstorable(item)
            if found is not None:
                return found
    return None


class Query:
    """The query of a list: skip, limit, targets (repeated, or comma-separated), filters.

    OpenADR 3.0's ``targetType`` + ``targetValues``, which 3.x clients still send (the stock
    ``python-oa3-client`` finds a VEN or program by name so), are read too: ``name`` is the
    targetType naming this list's objects and the field it matches (``("VEN_NAME",
    "venName")``); any other targetType's values are targets.
    """

    def __init__(
        self,
        request: web.Request,
        filters: Sequence[str] = (),
        name: tuple[str, str] | None = None,
    ) -> None:
        allowed = {"skip", "limit", "targets", "targetType", "targetValues", *filters}
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            raise bad_request(f"unknown query parameter(s): {', '.join(unknown)}")
        self.skip = _integer(request.query, "skip", 0, None)
        self.limit = _integer(request.query, "limit", 0, MAX_LIMIT)
        targets = _listed(request, "targets")
        self.named: frozenset[str] | None = None
        self._name_field = name[1] if name is not None else ""
        target_type = self._once(request, "targetType")
        values = _listed(request, "targetValues")
        if target_type is not None and name is not None and target_type == name[0]:
            self.named = frozenset(values)
        elif target_type is not None:
            targets += values
        self.targets: frozenset[str] | None = frozenset(targets) if targets else None
        self.filters: dict[str, str] = {}
        for filtered in filters:
            value = self._once(request, filtered)
            if value is not None:
                self.filters[filtered] = value

    @staticmethod
    def _once(request: web.Request, name: str) -> str | None:
        values = request.query.getall(name, [])
        if len(values) > 1:
            raise bad_request(f"{name} may be given once")
        if not values:
            return None
        if unstorable_character(values[0]) is not None or not values[0]:
            raise bad_request(f"{name}: not a valid value")
        return values[0]

    def page(self, items: Sequence[Any]) -> list[Any]:
        if self.named is not None:
            items = [i for i in items if i.get(self._name_field) in self.named]
        end = None if self.limit is None else self.skip + self.limit
        return list(items[self.skip : end])


def _listed(request: web.Request, name: str) -> list[str]:
    values = [v for raw in request.query.getall(name, []) for v in raw.split(",") if v]
    if any(unstorable_character(v) is not None for v in values):
        raise bad_request(f"{name}: not a valid value")
    return values


def _integer(query: Mapping[str, str], name: str, low: int, high: int | None) -> Any:
    raw = query.get(name)
    if raw is None:
        return 0 if name == "skip" else None
    try:
        value = int(raw)
    except ValueError as err:
        raise bad_request(f"{name}: must be an integer") from err
    if value < low or (high is not None and value > high):
        raise bad_request(f"{name}: must be {low}-{high}" if high else f"{name}: must be >= {low}")
    return value


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(field: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise bad_request(f"{field}: not an RFC 3339 date-time: {value!r}") from err
    if parsed.tzinfo is None:
        raise bad_request(f"{field}: needs a time zone offset (RFC 3339): {value!r}")
    return parsed.astimezone(UTC)


def parse_duration(field: str, value: str, start: datetime) -> timedelta:
    """An ISO 8601 duration as a span from ``start`` (months and years vary in length)."""
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as err:
        raise bad_request(f"{field}: not an ISO 8601 duration: {value!r}") from err
    if isinstance(parsed, timedelta):
        return parsed
    try:
        return parsed.totimedelta(start=start)  # type: ignore[no-any-return]
    except OverflowError:
        return _FAR_FUTURE - start


def duration_text(span: timedelta) -> str:
    return str(isodate.duration_isoformat(span))


def metadata(kind: str, object_id: str, created: datetime, modified: datetime) -> dict[str, Any]:
    return {
        "id": object_id,
        "createdDateTime": rfc3339(created),
        "modificationDateTime": rfc3339(modified),
        "objectType": kind,
    }


def json_answer(body: Any, status: int = 200) -> web.Response:
    return web.json_response(text=json.dumps(body), status=status)
