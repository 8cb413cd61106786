"""Schemathesis over openadr3.yaml (the spec's own document, its defects fixed as in
``spec.py``), sent to the running app with a business-logic token and with a VEN's: no answer
is a 5xx, and every documented answer matches its schema. /subscriptions and /notifiers are
the notifications' (``tests/oadr3/notify``). Bounded and reproducible: a fixed number of
examples per operation, derandomized, no example database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.oadr3.conftest import MakePeer
from tests.oadr3.spec import spec_document
from tests.oadr3.support import BASE

EXAMPLES_PER_OPERATION = 4
CHECKS = [not_a_server_error, response_schema_conformance]
NOT_OURS = ("/subscriptions", "/notifiers", "/auth/token")


def fuzz(base: str, token: str, ids: dict[str, str]) -> tuple[list[str], set[tuple[str, int]]]:
    """What went wrong, and the (operation, status) pairs seen."""
    failures: list[str] = []
    seen: set[tuple[str, int]] = set()
    schema = schemathesis.openapi.from_dict(spec_document(base))
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path.startswith(NOT_OURS):
                continue
            known = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
            strategy = st.one_of(
                operation.as_strategy(path_parameters=known or None),
                operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
            )

            @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None,
                      deadline=None, suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=strategy)
            def send(case: schemathesis.Case) -> None:
                response = case.call(base_url=base, session=session, headers=headers, timeout=10)
                seen.add((f"{case.method} {case.path}", response.status_code))
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except Exception as err:  # every finding is collected and reported together
                    what = f"{case.method} {case.formatted_path} {case.query} {case.body!r:.200}"
                    failures.append(f"{what}: {type(err).__name__}: {err}"[:1200])

            send()
    return failures, seen


@pytest.mark.timeout(300)  # ~50 s on a quiet machine: room for a loaded one
async def test_no_5xx_and_answers_match_openadr3_yaml(
    client: TestClient[Any, Any], peers: MakePeer
) -> None:
    bl = await peers("BL", "bl-fuzz")
    ven = await peers("VEN", "ven-fuzz")
    site = await ven.ok("create_ven", {"objectType": "VEN_VEN_REQUEST", "venName": "s"},
                        status=201)  # fmt: skip
    meter = await ven.ok("create_resource", {"resourceName": "m", "venID": site["id"]},
                         status=201)  # fmt: skip
    program = await bl.ok("create_program", {"programName": "fuzz"}, status=201)
    ids = {"programID": program["id"], "venID": site["id"], "resourceID": meter["id"]}
    base = str(client.make_url(BASE))
    found: list[str] = []
    seen: set[tuple[str, int]] = set()
    for peer in (bl, ven):
        failures, statuses = await asyncio.to_thread(fuzz, base, peer.token, ids)
        found += failures
        seen |= statuses
    assert not found, "\n".join(found[:15])
    operations = {operation for operation, _ in seen}
    assert len(operations) == 26  # every operation of ours was sent requests
    assert {status for _, status in seen} >= {200, 400, 403, 404}
