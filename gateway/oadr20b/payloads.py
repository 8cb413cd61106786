"""Small pieces of OpenADR payloads the VTN's handlers share: the reply they return, the
eiResponse it carries, the requestID it echoes, and the VEN-given values it stores."""

from __future__ import annotations

from typing import Any

from gateway.domain.text import unstorable_character, unstorable_message
from gateway.oadr20b.errors import OadrError, StatusCode

Reply = tuple[str, dict[str, Any]]
# The width of the id columns the VTN stores VEN-given ids in (gateway.db.models).
ID_LENGTH = 128


def ok(request_id: str | None, description: str = "OK") -> dict[str, Any]:
    return {"response_code": 200, "response_description": description, "request_id": request_id}


def response_request_id(payload: dict[str, Any]) -> str | None:
    response = payload.get("response")
    if isinstance(response, dict) and response.get("request_id"):
        return str(response["request_id"])
    value = payload.get("request_id")
    return str(value) if value else None


def stored_id(value: object, field: str, limit: int = ID_LENGTH) -> str:
    """A VEN-given id the VTN keeps (or matches stored ones against), as text.

    Cut to the column's width, two ids could become one (PostgreSQL refused the longer one
    outright, a 503), so an id that does not fit is refused, 454 naming the element; so is
    text the database cannot hold, which XML 1.0 already keeps out.
    """
    text = "" if value is None else str(value)
    if len(text) > limit:
        raise OadrError(StatusCode.INVALID_DATA, f"{field} is longer than {limit} characters")
    character = unstorable_character(text)
    if character is not None:
        raise OadrError(StatusCode.INVALID_DATA, f"{field} {unstorable_message(character)}")
    return text
