"""OpenADR payloads (openleadr dataclasses, timedeltas, datetimes) to JSON-storable values and
back, so a message or request can be kept in the database and sent or used after a restart."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, timedelta):
        return {"__seconds__": value.total_seconds()}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    return value


def from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__seconds__"}:
            return timedelta(seconds=value["__seconds__"])
        if set(value) == {"__datetime__"}:
            return datetime.fromisoformat(value["__datetime__"])
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value
