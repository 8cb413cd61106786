"""Maps every failure to an HTTP status and a JSON ``ErrorBody``: the one place that does so.

A dependency that is down or unreachable (database, Redis) is 503, whatever shape its error
takes on the way up: a raw ``OSError`` from a connect, an asyncpg connection error, a
SQLAlchemy ``DBAPIError`` wrapping one, a Redis ``ConnectionError``. Anything else that is
not a ``GatewayError`` is a bug: 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from gateway.domain.errors import (
    Conflict,
    FieldError,
    GatewayError,
    NotFound,
    ValidationFailed,
)
from gateway.error_chain import is_unavailable
from gateway.http.schemas import ErrorBody, FieldErrorBody
from gateway.observability.metrics import METRICS, Component, Dependency

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InvalidJson(GatewayError):
    code = "invalid_json"


class Unauthorized(GatewayError):
    code = "unauthorized"


_STATUS: list[tuple[type[GatewayError], int]] = [
    (InvalidJson, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (ValidationFailed, 422),
]


def error_response(
    status: int, code: str, message: str, fields: list[FieldError] | None = None
) -> web.Response:
    body = ErrorBody(
        error=code,
        message=message,
        fields=[FieldErrorBody(field=f.field, message=f.message) for f in fields]
        if fields is not None
        else None,
    )
    response = web.json_response(text=body.model_dump_json(exclude_none=True), status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="oadr-gateway"'
    return response


def field_errors(err: ValidationError) -> list[FieldError]:
    return [
        FieldError(".".join(str(p) for p in e["loc"]) or "(body)", e["msg"]) for e in err.errors()
    ]


def _gateway_error(err: GatewayError) -> web.Response:
    status = next((s for kind, s in _STATUS if isinstance(err, kind)), 500)
    fields = err.errors if isinstance(err, ValidationFailed) else None
    return error_response(status, err.code, err.message, fields)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as err:
        return _gateway_error(err)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code = (err.reason or "error").lower().replace(" ", "_")
        response = error_response(err.status, code, err.reason or "request failed")
        if "Allow" in err.headers:  # a 405 must say what is allowed (RFC 9110, 15.5.6)
            response.headers["Allow"] = err.headers["Allow"]
        return response
    except Exception as err:
        if is_unavailable(err):
            logger.warning(
                "%s %s: a dependency is unavailable: %s: %s",
                request.method,
                request.path,
                type(err).__name__,
                err,
            )
            metrics = request.app.get(METRICS)  # an app without observability counts nothing
            if metrics is not None:
                metrics.dependency_error(Dependency.of(err), Component.API)
            return error_response(503, "unavailable", "a dependency (database or Redis) is down")
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
