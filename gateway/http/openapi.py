"""The OpenAPI 3.1 document, built from the route table and the pydantic models."""

from __future__ import annotations

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


def _needs_auth(route: Route) -> bool:
    return route.path.startswith("/api") and route.method not in ("GET", "HEAD")


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": route.summary, "responses": {}}
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
        op["responses"][str(route.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        }
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
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This document (no auth)",
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "oadr-gateway admin API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
