"""Reading validated input from requests and writing views as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.domain.errors import ValidationFailed
from gateway.http.errors import InvalidJson, field_errors

B = TypeVar("B", bound=BaseModel)


async def read_body(request: web.Request, model: type[B]) -> B:
    raw = await request.read()  # over client_max_size: HTTP 413
    if not raw.strip():
        raise InvalidJson("the request needs a JSON body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            raise InvalidJson(f"the body is not valid JSON: {err.errors()[0]['msg']}") from err
        if any(e["type"] == "model_type" and not e["loc"] for e in err.errors()):
            raise InvalidJson("the body must be a JSON object") from err
        raise ValidationFailed(field_errors(err)) from err


async def read_optional_body(request: web.Request, model: type[B]) -> B:
    if not request.can_read_body or not (await request.read()).strip():
        return model()
    return await read_body(request, model)


def read_query(request: web.Request, model: type[B]) -> B:
    params = dict(request.query)
    if len(params) != len(request.query):
        raise ValidationFailed.single("query", "each parameter may be given once")
    try:
        return model.model_validate(params)
    except ValidationError as err:
        raise ValidationFailed(field_errors(err)) from err


def json_view(view: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=view.model_dump_json(), status=status)


def json_items(views: Sequence[BaseModel]) -> web.Response:
    """``{"count": n, "items": [...]}``, each item serialised exactly as ``json_view`` does."""
    items = ",".join(v.model_dump_json() for v in views)
    return web.json_response(text=f'{{"count": {len(views)}, "items": [{items}]}}')
