"""Schemathesis over the admin API's own OpenAPI document, served by the running test app.

Every documented operation gets generated requests, valid ones (positive) and ones that break
the document (negative), sent to the app on 127.0.0.1 with and without the admin token:

- no answer is a 5xx, and each is documented (status, content type and body schema);
- a request the document calls valid is refused only for a rule it cannot state (a time in
  the future, ids that exist): a 422 names only such fields;
- without the token no write succeeds, and no row of any table changes.

Negative cases are not required to be refused (some rules are more lenient than the document:
spaces around a fingerprint are taken), only to get a documented answer that is not a 5xx.

Bounded and reproducible: a fixed number of examples per operation, derandomized, and no
example database (``database=None``) so a run never depends on an earlier one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.services.container import Services
from tests.fuzz.state import changed_tables, database_rows
from tests.support import ADMIN_TOKEN, Api, in_minutes

EXAMPLES_PER_OPERATION = 12
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Rules the document cannot state in JSON Schema: they depend on the clock or on what exists,
# or relate items of a list (a SIMPLE level table's bounds and levels rise, the last is 100),
# or fields to each other (a baseline's highest X of Y, what its method needs), or the rows
# of a meter history CSV (devices that exist, intervals that are over).
DATA_DEPENDENT_FIELDS = frozenset(
    {"event_time", "start_time", "start", "devices", "device_id", "simple_levels", "program_id",
     "baseline_parameters", "csv",
     "signals", "baseline",  # an event's signals and baseline cover its duration exactly
     "scopes"}  # an OpenADR 3 client's scopes must fit its role
)  # fmt: skip
# A meter history file that every gateway with the seeded devices takes.
VALID_HISTORY_CSV = "device_id,interval_start,kwh\ndev-1,2020-01-01T00:00:00Z,1.0\n"
# A SIMPLE level table that every program takes.
VALID_SIMPLE_LEVELS = [
    {"upper_bound_percentage": 20.0, "level": 1},
    {"upper_bound_percentage": 100.0, "level": 3},
]


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@dataclass
class Findings:
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=dict)

    def saw(self, label: str, status: int) -> None:
        self.statuses.setdefault(label, set()).add(status)


SEEDED_DEVICES = ("dev-1", "dev-2")


async def seed(api: Api) -> dict[str, str]:
    """Something for every path parameter to point at, so a write would have an effect."""
    await api.device("dev-1")
    await api.device("dev-2", ven_id="ven-seed", resource_id="res-2")
    ven = await api.post("/api/vens", {"name": "ven-seed", "ven_id": "ven-seed"}, status=201)
    program = await api.post(
        "/api/programs", {"name": "Peak", "market_context": "urn:peak"}, status=201
    )
    invitation = await api.invite(list(SEEDED_DEVICES))
    event = await api.post(
        "/api/events",
        {"start_time": in_minutes(90), "duration_minutes": 30, "devices": ["dev-1"],
         "target_kw": 2.0},
        status=201,
    )  # fmt: skip
    return {
        "device_id": "dev-1",
        "ven_id": ven["ven_id"],
        "invitation_id": invitation["id"],
        "event_id": event["id"],
        "program_id": program["id"],
        "client_id": (await api.post("/api/oadr3/clients", {"role": "VEN"}, status=201))[
            "client_id"
        ],
        "report_request_id": "no-such-request",  # the VEN is not registered: 409 first
    }


def fuzz(base_url: str, ids: dict[str, str], *, token: bool) -> Findings:
    """Runs in a worker thread (schemathesis sends with ``requests``, the app runs on the
    test's event loop); returns what went wrong instead of raising, to report all of it."""
    findings = Findings()
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json", timeout=10)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if token else {}
    with requests.Session() as session:
        operations = [result.ok() for result in schema.get_all_operations()]
        # Cancelling last leaves the seeded invitation open to answers and changes first.
        for operation in sorted(operations, key=lambda op: op.path.endswith("/cancel")):
            names = {p.name for p in operation.path_parameters}
            known = {name: ids[name] for name in names}
            positive = operation.as_strategy(path_parameters=known or None)
            strategies = [
                positive.map(lambda case: (case, False)),
                positive.map(lambda case: (realistic(case), True)),
                operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE).map(
                    lambda case: (case, False)
                ),
            ]
            if names:  # ids that exist, and ids made up
                strategies.append(operation.as_strategy().map(lambda case: (case, False)))
            run_operation(st.one_of(strategies), session, base_url, headers, token, findings)
    return findings


def realistic(case: schemathesis.Case) -> schemathesis.Case:
    """A valid case with what the document cannot promise filled in: the seeded devices, a
    start two hours ahead, the default program and a SIMPLE level table that rises, so that
    the request can succeed (a 422 then is a finding)."""
    if isinstance(case.body, dict):
        body = dict(case.body)
        for name in ("event_time", "start_time", "start"):
            if name in body:
                body[name] = in_minutes(120)
        if "devices" in body:
            body["devices"] = list(SEEDED_DEVICES)
        if "device_id" in body:
            body["device_id"] = SEEDED_DEVICES[len(str(body["device_id"])) % 2]
        if body.get("simple_levels") is not None:
            body["simple_levels"] = VALID_SIMPLE_LEVELS
        if "program_id" in body:  # the default program: every seeded device takes part
            body["program_id"] = "default"
        if "baseline_parameters" in body or body.get("baseline_method") == "day_matching":
            body["baseline_parameters"] = None  # each method's own
            if body.get("baseline_method") == "day_matching":  # needs parameters: a preset
                body["baseline_method"] = "caiso_10_in_10"
        if "csv" in body:
            body["csv"] = VALID_HISTORY_CSV
        if body.get("role") in ("VEN", "BL") and body.get("scopes"):
            body["scopes"] = None  # the role's own (some scopes are another role's)
        if body.get("signals") or "baseline" in body:  # one signal covering the event
            minutes = body.setdefault("duration_minutes", 60) or 60
            body["duration_minutes"] = minutes
            one = [{"duration_minutes": minutes, "value": 1}]
            body["signals"] = [{"name": "SIMPLE", "type": "level", "intervals": one}]
            body.pop("baseline", None)
        case.body = body
    return case


def run_operation(
    strategy: st.SearchStrategy[tuple[schemathesis.Case, bool]],
    session: requests.Session,
    base_url: str,
    headers: dict[str, str],
    token: bool,
    findings: Findings,
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        # Generating from JSON Schema is slow and filters a lot; neither is a problem here.
        suppress_health_check=list(HealthCheck),
    )
    @given(generated=strategy)
    def send(generated: tuple[schemathesis.Case, bool]) -> None:
        case, is_realistic = generated
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=10)
        label = f"{case.method} {case.path}"
        findings.saw(label, response.status_code)
        what = f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300}"
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as err:  # every finding is collected and reported together
            findings.failures.append(f"{what}: {type(err).__name__}: {err}"[:1500])
            return
        check_outcome(case, is_realistic, response, token, what, findings.failures)

    send()


def check_outcome(
    case: schemathesis.Case,
    is_realistic: bool,
    response: schemathesis.Response,
    token: bool,
    what: str,
    failures: list[str],
) -> None:
    status = response.status_code
    if not token and case.method not in READ_METHODS and status < 400:
        failures.append(f"{what}: an unauthenticated write answered {status}")
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and token and status == 422:
        named = {_field(f["field"]) for f in response.json().get("fields") or []}
        unstated = frozenset() if is_realistic else DATA_DEPENDENT_FIELDS
        if named - unstated:
            failures.append(f"{what}: valid by the document, refused: {response.text[:400]}")


def _field(name: str) -> str:
    """The body field an error names: a meter history CSV's rows are ``line N.column``."""
    return "csv" if name.startswith("line ") or name == "file" else name.split(".")[0]


async def run_fuzz(client: TestClient[Any, Any], ids: dict[str, str], token: bool) -> Findings:
    base_url = str(client.make_url("")).rstrip("/")
    return await asyncio.to_thread(fuzz, base_url, ids, token=token)


async def test_without_the_token_nothing_is_written(
    client: TestClient[Any, Any], api: Api, services: Services
) -> None:
    ids = await seed(api)
    before = await database_rows(services.db)
    findings = await run_fuzz(client, ids, token=False)
    assert findings.failures == [], "\n".join(findings.failures)
    assert changed_tables(before, await database_rows(services.db)) == {}
    writes = {k: v for k, v in findings.statuses.items() if k.split()[0] not in READ_METHODS}
    assert len(writes) == 31, writes  # every write route was tried ...
    assert all(v <= {401} for v in writes.values()), writes  # ... and each one refused


async def test_with_the_token_no_server_error_and_answers_as_documented(
    client: TestClient[Any, Any], api: Api
) -> None:
    ids = await seed(api)
    findings = await run_fuzz(client, ids, token=True)
    assert findings.failures == [], "\n".join(findings.failures)
    created = {k: v for k, v in findings.statuses.items() if v & {200, 201}}
    assert len(created) >= 15, findings.statuses  # the valid requests got through
