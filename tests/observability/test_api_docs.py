"""The OpenAPI document names, tags and describes every operation; ``/api/docs`` renders it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.http import handlers as h
from gateway.http.openapi import (
    build_openapi,
    description,
    operation_id,
    shared_handler_names,
    tag,
)
from gateway.http.routes import ROUTES, Route

METHODS = {"get", "put", "post", "delete", "patch"}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_every_operation_has_a_unique_id_a_declared_tag_and_a_description() -> None:
    doc = build_openapi()
    declared = {t["name"] for t in doc["tags"]}
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)) == len(ROUTES) + 3  # + the document, its page, /metrics
    for method, path, op in operations(doc):
        assert re.fullmatch(r"[a-z][A-Za-z0-9]+", op["operationId"]), (method, path)
        assert len(op["tags"]) == 1, (method, path)
        assert op["tags"][0] in declared, (method, path)
        assert op["description"].strip(), (method, path)
    assert all(t.get("description") for t in doc["tags"])


def test_defaults_come_from_the_route_table() -> None:
    listing = Route("GET", "/api/devices", h.list_devices, "List devices", listing=True)
    assert operation_id(listing) == "listDevices"
    assert tag(listing) == "devices"
    assert description(listing) == (
        'List devices. Answers {"count": n, "items": [...]}. Open, unless auth_reads is on.'
    )
    write = Route("POST", "/api/invitations/{invitation_id}/cancel", h.cancel_invitation,
                  "Cancel an invitation")  # fmt: skip
    assert (operation_id(write), tag(write)) == ("cancelInvitation", "invitations")
    assert description(write) == "Cancel an invitation. Needs the admin token."
    assert tag(Route("GET", "/health", h.health, "Health")) == "health"


def test_handlers_sharing_a_name_are_told_apart_by_method_and_path() -> None:
    def handler(request: Any) -> Any: ...  # what a handler factory makes, twice

    enrol = Route("PUT", "/api/programs/{program_id}/vens/{ven_id}", handler, "Enrol")
    remove = Route("DELETE", "/api/programs/{program_id}/vens/{ven_id}", handler, "Remove")
    other = Route("GET", "/api/auto-response", h.get_auto_response, "Config")
    shared = shared_handler_names([enrol, remove, other])
    assert shared == {"handler"}
    assert operation_id(enrol, shared) == "putProgramsVens"
    assert operation_id(remove, shared) == "deleteProgramsVens"
    assert operation_id(other, shared) == "getAutoResponse"
    assert tag(other) == "auto-response"


def test_a_route_may_name_its_own() -> None:
    route = Route("GET", "/api/programs", h.list_devices, "Programs", operation_id="listPrograms",
                  tag="programs", description="Every program.")  # fmt: skip
    assert (operation_id(route), tag(route), description(route)) == (
        "listPrograms", "programs", "Every program.",
    )  # fmt: skip


async def test_docs_page_is_self_contained_and_reads_the_document(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert 'fetch("/api/openapi.json")' in page
    # No CDN or any other host: everything it needs is in the page.
    assert re.findall(r"(?:src|href)=\"(?!/|#)[^\"]*\"", page) == []
    assert "https://" not in page
    assert "http://" not in page
    assert "innerHTML" not in page  # the document's text is inserted as text only


@pytest.mark.parametrize("settings_overrides", [{"auth_reads": True}])
async def test_docs_page_needs_no_token_even_with_auth_reads(
    client: TestClient[Any, Any],
) -> None:
    assert (await client.get("/api/docs")).status == 200
    assert (await client.get("/api/devices")).status == 401
