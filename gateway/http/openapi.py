"""The OpenAPI 3.1 document, built from the route table and the pydantic models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway import __version__
from gateway.domain.text import NO_NUL_PATTERN
from gateway.http.routes import ROUTES, Route
from gateway.http.schemas import ErrorBody

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "Malformed JSON",
    401: "Missing or wrong admin token",
    404: "Unknown id",
    409: "Conflicts with the current state",
    413: "Body too large",
    422: "Invalid fields (each one named)",
    503: "A dependency is down",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


# The description of each tag; a tag not listed here is still used, without one.
TAGS = {
    "health": "Reachability of the database and Redis",
    "devices": "Devices that shed load, and their hourly instructions",
    "vens": "OpenADR VENs provisioned for the VTN",
    "invitations": "Requests to shed load, and the devices' answers",
    "events": "Scheduled and running demand-response events, and their results",
    "auto-response": "Answering invitations automatically from measured power",
    "flexibility": "Flexibility available now, and its stored history",
    "analytics": "Performance of past events",
    "programs": "Programs (market contexts) and the VENs and devices enrolled in them",
    "meter-history": "Importing devices' meter history (energy per interval)",
    "vtn": "The 2.0b VTN's own reports to its VENs (its METADATA)",
    "oadr3": "OpenADR 3 clients (OAuth2 client credentials) of the 3.1 API",
    "service": "This document, its page and the Prometheus metrics",
}


def _needs_auth(route: Route) -> bool:
    return route.path.startswith("/api") and route.method not in ("GET", "HEAD")


def _camel(words: list[str]) -> str:
    first, *rest = [w for w in words if w]
    return first.lower() + "".join(word[:1].upper() + word[1:] for word in rest)


def operation_id(route: Route, shared_names: frozenset[str] = frozenset()) -> str:
    """``route.operation_id``, else the handler's name in camelCase (``list_devices`` ->
    ``listDevices``), unless that name is in ``shared_names`` (handlers made by one factory,
    or used by several routes): then the method and the path's words
    (``PUT /api/programs/{program_id}/vens/{ven_id}`` -> ``putProgramsVens``)."""
    if route.operation_id:
        return route.operation_id
    name = route.handler.__name__.strip("_")
    if name not in shared_names:
        return _camel(name.split("_"))
    words = [part.replace("-", "_") for part in route.path.split("/") if part]
    words = [w for w in words if w != "api" and not w.startswith("{")]
    return _camel([route.method, *(piece for w in words for piece in w.split("_"))])


def shared_handler_names(routes: Sequence[Route]) -> frozenset[str]:
    names = Counter(route.handler.__name__.strip("_") for route in routes)
    return frozenset(name for name, count in names.items() if count > 1)


def tag(route: Route) -> str:
    """``route.tag``, else the first path segment under ``/api`` (``/health`` -> ``health``)."""
    if route.tag:
        return route.tag
    segments = [part for part in route.path.split("/") if part]
    if segments and segments[0] == "api":
        segments = segments[1:]
    return segments[0] if segments else "service"


def description(route: Route) -> str:
    """``route.description``, else the summary and what the table says about the call."""
    if route.description:
        return route.description
    parts = [route.summary.rstrip(".") + "."]
    if route.listing:
        parts.append('Answers {"count": n, "items": [...]}.')
    if _needs_auth(route):
        parts.append("Needs the admin token.")
    elif route.path.startswith("/api"):
        parts.append("Open, unless auth_reads is on.")
    else:
        parts.append("Open: needs no token.")
    return " ".join(parts)


def _operation(route: Route, shared_names: frozenset[str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id(route, shared_names),
        "tags": [tag(route)],
        "summary": route.summary,
        "description": description(route),
        "responses": {},
    }
    if route.response is not None:
        schema: dict[str, Any] = _ref(route.response)
        if route.listing:
            schema = {
                "type": "object",
                "properties": {
                    "count": {"type": "integer"},
                    "items": {"type": "array", "items": schema},
                },
                "required": ["count", "items"],
            }
        for status in (route.status, *route.also):
            op["responses"][str(status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema}},
            }
        for media in route.text_media:
            op["responses"][str(route.status)]["content"][media] = {"schema": {"type": "string"}}
    else:
        op["responses"][str(route.status)] = {"description": "No Content"}
    if route.body is not None:
        op["requestBody"] = {
            "required": route.method != "POST" or not route.path.endswith("/cancel"),
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    if route.query is not None:
        props = route.query.model_json_schema(ref_template=_REF)["properties"]
        op["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in props.items()
        ]
    path_params = [p.strip("{}") for p in route.path.split("/") if p.startswith("{")]
    # routes.with_checked_path refuses an id with a NUL (422) before any handler runs.
    id_schema = {"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN}
    op.setdefault("parameters", []).extend(
        {"name": p, "in": "path", "required": True, "schema": id_schema} for p in path_params
    )
    if not op["parameters"]:
        del op["parameters"]
    codes = set(route.errors)
    if route.body is not None:
        codes |= {400, 413, 422}
    if _needs_auth(route):
        codes.add(401)
        op["security"] = [{"bearer": []}]
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": _ERROR_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    return op


def build_openapi() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    for route in ROUTES:
        models |= {m for m in (route.response, route.body) if m is not None}
    queries = {route.query for route in ROUTES if route.query is not None}
    ordered = sorted(models | queries, key=lambda m: m.__name__)
    _, schema = models_json_schema([(m, "validation") for m in ordered], ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    shared = shared_handler_names(ROUTES)
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, shared)
    paths |= _service_paths()
    used = {op["tags"][0] for item in paths.values() for op in item.values()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "oadr-gateway admin API", "version": __version__},
        "tags": [{"name": name, "description": text} for name, text in TAGS.items() if name in used]
        + [{"name": name} for name in sorted(used - set(TAGS))],
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _service_paths() -> dict[str, dict[str, Any]]:
    """The routes outside the table: this document, its page, and the metrics."""

    def get(operation: str, summary: str, text: str, media: str) -> dict[str, Any]:
        schema: dict[str, Any] = {} if media == "application/json" else {"type": "string"}
        return {
            "get": {
                "operationId": operation,
                "tags": ["service"],
                "summary": summary,
                "description": text,
                "responses": {"200": {"description": "OK", "content": {media: {"schema": schema}}}},
            }
        }

    metrics = get(
        "getMetrics",
        "Prometheus metrics",
        "The Prometheus text format. Open, unless metrics_token is set: then it needs "
        "'Authorization: Bearer <metrics_token>' (401 without).",
        "text/plain",
    )
    metrics["get"]["responses"]["401"] = {
        "description": _ERROR_TEXT[401],
        "content": {"application/json": {"schema": _ref(ErrorBody)}},
    }
    return {
        "/api/openapi.json": get(
            "getOpenapi", "This document", "The OpenAPI document. Open: needs no token.",
            "application/json",
        ),
        "/api/docs": get(
            "getApiDocs", "This document as a page",
            "An HTML page that renders this document. Open: needs no token.", "text/html",
        ),
        "/metrics": metrics,
    }  # fmt: skip


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
