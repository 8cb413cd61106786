"""The OpenAPI document describes exactly the routes the running app serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.flexibility import is_valid_timezone
from gateway.domain.programs import market_context_problem
from gateway.http.routes import ROUTES
from gateway.services.devices import check_device_id
from gateway.services.vens import FINGERPRINT

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
        if str(info.get("prefix") or info.get("path") or info.get("formatter")).startswith(
            "/console"
        ):
            continue  # the browser console (gateway.console): its page, files and helpers
        path = info.get("path") or info.get("formatter")
        assert path, info
        if path.startswith("/OpenADR2/"):
            continue  # the OpenADR VTN speaks XML by its own standard, not this document's
        if path.startswith("/openadr3/"):
            continue  # the OpenADR 3 API is documented by the spec's openadr3.yaml
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
    assert len(writes) == 31
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


# --- the document states what validation enforces ------------------------------------------

WRONG_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")


@pytest.mark.parametrize("settings_overrides", [{}, {"auth_reads": True}], ids=["open", "auth"])
async def test_an_unknown_method_is_405_not_401_even_without_a_token(
    client: TestClient[Any, Any], doc: dict[str, Any]
) -> None:
    # RFC 9110 15.5.6: the method is not supported by the resource; the token changes nothing
    # there, and the 401 the auth middleware gave first hid that.
    tried = 0
    for path, item in doc["paths"].items():
        allowed = {m.upper() for m in item if m in METHODS}
        url = re.sub(r"\{[^}]+\}", "x", path)
        for method in sorted(set(WRONG_METHODS) - allowed):
            resp = await client.request(method, url)  # no Authorization header
            assert resp.status == 405, (method, path, await resp.text())
            assert {m.strip() for m in resp.headers["Allow"].split(",")} >= allowed
            tried += 1
    assert tried > 40


def component(doc: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


def integer_branch(prop: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in prop.get("anyOf", [prop]) if b.get("type") == "integer")


async def test_durations_are_stated_as_1_to_1440_minutes(doc: dict[str, Any]) -> None:
    for name in ("InvitationCreate", "InvitationModify", "EventCreate"):
        duration = integer_branch(component(doc, name)["properties"]["duration_minutes"])
        assert (duration["minimum"], duration["maximum"]) == (1, 1440), name


async def test_a_resource_id_is_stated_to_need_a_ven_id(doc: dict[str, Any]) -> None:
    device = component(doc, "DeviceCreate")
    assert device["if"]["required"] == ["resource_id"]
    assert device["then"]["required"] == ["ven_id"]
    assert device["then"]["properties"]["ven_id"] == {"type": "string"}


async def test_instruction_hours_and_values_are_listed(doc: dict[str, Any]) -> None:
    instructions = component(doc, "InstructionsUpdate")["properties"]["instructions"]
    assert instructions["propertyNames"]["enum"] == [str(h) for h in range(24)]
    assert sorted(instructions["additionalProperties"]["enum"]) == [
        "off", "participation", "shifting"
    ]  # fmt: skip


async def test_free_text_is_stated_to_have_no_nul(doc: dict[str, Any]) -> None:
    for name, field in [("VenCreate", "name"), ("AnswerCreate", "device_id")]:
        assert component(doc, name)["properties"][field]["pattern"] == r"^[^\x00]*$"
    reason = component(doc, "InvitationCancel")["properties"]["reason"]["anyOf"][0]
    assert reason["pattern"] == r"^[^\x00]*$"
    for method, path, op in operations(doc):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["pattern"] == r"^[^\x00]*$", (method, path)


def fingerprint_pattern(doc: dict[str, Any]) -> str:
    prop = component(doc, "VenCreate")["properties"]["fingerprint"]
    pattern: str = next(b for b in prop["anyOf"] if b.get("type") == "string")["pattern"]
    return pattern


async def test_what_the_document_calls_a_fingerprint_or_device_id_is_taken(
    doc: dict[str, Any],
) -> None:
    # The document's patterns against the rules the services apply (services.vens and
    # services.devices), on values generated from the document's own patterns.
    fingerprints = st.from_regex(fingerprint_pattern(doc), fullmatch=True)
    device_pattern = component(doc, "DeviceCreate")["properties"]["id"]["pattern"]
    device_ids = st.from_regex(device_pattern, fullmatch=True)

    # Generating from these regexes is slow on a loaded machine: no health check or deadline
    # on time, which is not what this test is about.
    @settings(
        max_examples=200, derandomize=True, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )  # fmt: skip
    @given(fingerprint=fingerprints, device_id=device_ids)
    def taken(fingerprint: str, device_id: str) -> None:
        assert FINGERPRINT.match(fingerprint.strip().upper()), fingerprint
        assert check_device_id("id", device_id) == [], device_id

    taken()
    assert not re.fullmatch(fingerprint_pattern(doc), "AA:BB")


async def test_the_listed_time_zones_are_the_ones_taken(doc: dict[str, Any]) -> None:
    zones = component(doc, "DeviceCreate")["properties"]["timezone"]["enum"]
    assert "Europe/Paris" in zones
    assert "UTC" in zones
    assert all(is_valid_timezone(zone) for zone in zones)


async def test_what_the_document_calls_a_market_context_is_taken(doc: dict[str, Any]) -> None:
    prop = component(doc, "ProgramCreate")["properties"]["market_context"]
    contexts = st.from_regex(prop["pattern"], fullmatch=True).filter(
        lambda value: len(value) <= prop["maxLength"]
    )

    @settings(
        max_examples=200,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(market_context=contexts)
    def taken(market_context: str) -> None:
        assert market_context_problem(market_context) is None, market_context

    taken()
    for refused in ("relative/path", "http://a b", "http://a#b", "", ":x"):
        assert not re.fullmatch(prop["pattern"], refused), refused


async def test_the_simple_level_table_is_stated_as_far_as_json_schema_can(
    doc: dict[str, Any],
) -> None:
    levels = component(doc, "ProgramCreate")["properties"]["simple_levels"]["anyOf"][0]
    assert (levels["minItems"], levels["maxItems"]) == (1, 4)
    row = component(doc, "SimpleLevelBody")["properties"]
    assert (row["level"]["minimum"], row["level"]["maximum"]) == (0, 3)
    bound = row["upper_bound_percentage"]
    assert (bound["minimum"], bound["maximum"]) == (0, 100)
    priority = component(doc, "ProgramCreate")["properties"]["priority"]
    assert (priority["minimum"], priority["maximum"]) == (0, 2**31 - 1)
