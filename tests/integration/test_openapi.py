"""The OpenAPI document describes exactly the routes the running app serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.http.routes import ROUTES

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
async def doc(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")  # no Authorization header
    assert resp.status == 200
    assert resp.content_type == "application/json"
    data: dict[str, Any] = await resp.json()
    return data


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{where}/{i}")


def app_routes(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    found = set()
    app = client.app
    assert app is not None
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert path, info
        if path.startswith("/OpenADR2/"):
            continue  # the OpenADR VTN speaks XML by its own standard, not this document's
        found.add((route.method, path))
    return found


async def test_document_header(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


@pytest.mark.parametrize("settings_overrides", [{"auth_reads": True}])
async def test_document_needs_no_token_even_with_auth_reads(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert (await resp.json())["openapi"] == "3.1.0"


async def test_every_route_of_the_table_is_documented(doc: dict[str, Any]) -> None:
    documented = {(m, p) for m, p, _ in operations(doc)}
    for route in ROUTES:
        assert (route.method, route.path) in documented, route.path
        op = doc["paths"][route.path][route.method.lower()]
        assert op["summary"] == route.summary
        assert str(route.status) in op["responses"], (route.path, op["responses"].keys())


async def test_app_routes_and_document_match_both_ways(
    client: TestClient[Any, Any], doc: dict[str, Any]
) -> None:
    served = app_routes(client)
    documented = {(m, p) for m, p, _ in operations(doc)}
    assert len(served) >= len(ROUTES)
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


async def test_documented_operations_are_routed(
    client: TestClient[Any, Any], doc: dict[str, Any]
) -> None:
    for method, path, _ in operations(doc):
        url = re.sub(r"\{[^}]+\}", "x", path)
        resp = await client.request(method, url)
        assert resp.status != 405, (method, path)
        if resp.status == 404:
            # An unknown id answered by a handler, not a path the router does not know.
            assert "{" in path, (method, path)
            assert (await resp.json())["message"] != "Not Found", (method, path)


async def test_write_routes_declare_security_and_401(doc: dict[str, Any]) -> None:
    writes = [(m, p, op) for m, p, op in operations(doc) if m not in ("GET", "HEAD")]
    assert len(writes) == 10
    for method, path, op in writes:
        assert op.get("security") == [{"bearer": []}], (method, path)
        assert "401" in op["responses"], (method, path)
        error = op["responses"]["401"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorBody"}


async def test_open_reads_declare_no_security(doc: dict[str, Any]) -> None:
    for path in ("/health", "/api/openapi.json"):
        item = doc["paths"].get(path)
        if item is not None:
            assert "security" not in item["get"], path


async def test_body_routes_document_body_and_errors(doc: dict[str, Any]) -> None:
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        if route.body is None:
            assert "requestBody" not in op, route.path
            continue
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{route.body.__name__}"}
        assert {"400", "413", "422"} <= set(op["responses"]), route.path


async def test_path_parameters_are_declared(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        wanted = set(re.findall(r"\{([^}]+)\}", path))
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == wanted, (method, path)
        for p in op.get("parameters", []):
            if p["in"] == "path":
                assert p["required"] is True


async def test_query_parameters_are_declared(doc: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.query is None:
            continue
        op = doc["paths"][route.path][route.method.lower()]
        declared = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert declared == set(route.query.model_fields), route.path


async def test_every_ref_resolves_to_a_component_schema(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    found = list(refs(doc))
    assert len(found) > 20
    prefix = "#/components/schemas/"
    for where, ref in found:
        assert ref.startswith(prefix), (where, ref)
        assert ref[len(prefix) :] in schemas, (where, ref)


async def test_no_leftover_local_definitions(doc: dict[str, Any]) -> None:
    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            if "$defs" in node:
                yield where
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}/{i}")

    assert list(walk(doc["paths"], "#/paths")) == []
