"""Every failure of the 3.x API as the spec's problem body (RFC 7807 fields, application/json),
in one place: the core's error tree, the adapter's own ``Problem``, outages (503) and bugs."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from gateway.domain.errors import Conflict, GatewayError, NotFound, ValidationFailed
from gateway.error_chain import is_unavailable

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Problem(Exception):
    """An answer other than success: its status, a title and a detail naming what is wrong."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


def bad_request(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail)


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail)


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)


def not_found(detail: str) -> Problem:
    return Problem(404, "Not Found", detail)


@contextmanager
def conflict_as_bad_request() -> Iterator[None]:
    """For the operations whose answers in openadr3.yaml have no 409: a clash is a 400."""
    try:
        yield
    except Conflict as err:
        raise bad_request(err.message) from err
    except Problem as err:
        if err.status != 409:
            raise
        raise bad_request(err.detail) from err


def problem_response(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    response = web.json_response(text=json.dumps(body), status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="openadr3"'
    return response


def _of_gateway_error(err: GatewayError) -> Problem:
    if isinstance(err, ValidationFailed):
        return bad_request(err.message)
    if isinstance(err, NotFound):
        return not_found(err.message)
    if isinstance(err, Conflict):
        return Problem(409, "Conflict", err.message)
    return Problem(500, "Internal Server Error", "internal error")


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as err:
        return problem_response(err.status, err.title, err.detail)
    except GatewayError as err:
        problem = _of_gateway_error(err)
        return problem_response(problem.status, problem.title, problem.detail)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        response = problem_response(err.status, err.reason, err.text or err.reason)
        if "Allow" in err.headers:
            response.headers["Allow"] = err.headers["Allow"]
        return response
    except Exception as err:
        if is_unavailable(err):
            logger.warning(
                "%s %s: a dependency is unavailable: %s", request.method, request.path, err
            )
            return problem_response(
                503, "Service Unavailable", "a dependency (database or Redis) is down"
            )
        logger.exception("%s %s failed", request.method, request.path)
        return problem_response(500, "Internal Server Error", "internal error")
