"""Every answer checked against openadr3.yaml (openapi-core), for responses of httpx (the
stock client's transport) and of aiohttp's test client."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_FILE = Path(__file__).parents[2] / ".." / "shared" / "openadr3" / "3.1.0" / "openadr3.yaml"


def spec_document(server: str) -> dict[str, Any]:
    """openadr3.yaml, served at ``server``, with its defects fixed (docs/oadr3.md)."""
    loaded = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    # YAML reads its example dates as datetimes; the document is JSON (strings).
    document: dict[str, Any] = json.loads(json.dumps(loaded, default=str))
    document["servers"] = [{"url": server}]
    # A stray "-" in the spec makes BlVenRequest's targets default the string "null    -".
    schemas = document["components"]["schemas"]
    schemas["BlVenRequest"]["properties"]["targets"]["default"] = None
    # The discriminators name no mapping, so a validator looks for a schema called by the
    # value ("EVENT_PAYLOAD_DESCRIPTOR"): give them the mapping the spec means.
    descriptors = schemas["programRequest"]["properties"]["payloadDescriptors"]["items"]
    descriptors["discriminator"]["mapping"] = {
        "EVENT_PAYLOAD_DESCRIPTOR": "#/components/schemas/eventPayloadDescriptor",
        "REPORT_PAYLOAD_DESCRIPTOR": "#/components/schemas/reportPayloadDescriptor",
    }
    # ven and resource are allOf objectMetadata (objectType VEN / RESOURCE) and a request whose
    # objectType is BL_VEN_REQUEST / BL_RESOURCE_REQUEST: no object satisfies both. The VTN
    # writes the metadata's objectType (as for every other object); the request part is checked
    # without its own objectType.
    for kind, request in (("ven", "BlVenRequest"), ("resource", "BlResourceRequest")):
        stripped = copy.deepcopy(schemas[request])
        del stripped["properties"]["objectType"]
        stripped["required"] = [r for r in stripped["required"] if r != "objectType"]
        schemas[f"{request}AsStored"] = stripped
        schemas[kind]["allOf"][1] = {"$ref": f"#/components/schemas/{request}AsStored"}
    notified = schemas["notification"]["properties"]["object"]["discriminator"]
    notified["mapping"] = {
        kind.upper(): f"#/components/schemas/{kind}"
        for kind in ("program", "report", "event", "subscription", "ven", "resource")
    }
    return document


@functools.cache
def _openapi(server: str) -> OpenAPI:
    return OpenAPI.from_dict(spec_document(server), config=None)


class _Request:
    def __init__(self, method: str, url: str, server: str) -> None:
        parts = urlsplit(url)
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path
        self.full_url_pattern = f"{self.host_url}{parts.path}"
        self.method = method.lower()
        query = [
            tuple(p.split("=", 1)) if "=" in p else (p, "") for p in parts.query.split("&") if p
        ]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query), header=Headers(), cookie=ImmutableMultiDict()
        )
        self.content_type = "application/json"
        self.body = b""


class _Response:
    def __init__(
        self, status: int, content_type: str, headers: dict[str, str], data: bytes
    ) -> None:
        self.status_code = status
        self.content_type = content_type
        self.headers = Headers(headers)
        self.data = data


def check(method: str, url: str, server: str, status: int, content_type: str, data: bytes) -> None:
    """Raise unless the answer is one openadr3.yaml allows for this operation."""
    _openapi(server).validate_response(
        _Request(method, url, server), _Response(status, content_type, {}, data)
    )
