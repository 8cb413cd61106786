"""The shared OpenADR conformance corpus, broken by Hypothesis, posted to the five VTN services.

Each example takes a corpus file (``../shared/conformance``, found as the conformance tests
find it), perhaps aims it at the registered VEN of a small world, and breaks it one way: byte
flips, truncation, a deleted or duplicated element, a billion-laughs entity, an external entity
naming a local file, deep nesting, or huge values. Posted to EiRegisterParty, EiEvent, EiReport,
EiOpt and OadrPoll, every answer must be:

- below 500, and when it is an OpenADR payload, valid against oadr_20b.xsd (``post`` checks);
- free of any expanded entity and of the local file's content;
- a refusal (HTTP 4xx, an empty acknowledgement or a responseCode other than 200) that left
  every database row and Redis key as it was. Only an accepted message may change state; an
  oadrResponse carrying an error code, acknowledged with an empty 200 as any oadrResponse, may
  record the VEN's error (``ven_errors``, the VEN's count) and drop cached views, nothing else.

Bounded for CI: a fixed number of examples per mutation, derandomized, no example database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from redis.asyncio import Redis

from gateway.services.container import Services
from gateway.settings import Settings
from tests.fuzz import mutations as m
from tests.fuzz.state import Rows, changed_tables, database_rows
from tests.support import Api
from tests.vtn.test_conformance import EI, SERVICES, Reply, post, provision, register

OADR = "http://openadr.org/oadr-2.0b/2012/07"
VEN_ERROR_TABLES = frozenset({"ven_errors", "vens"})  # what recording a VEN's error changes
CACHE = b":cache:"  # cached views, dropped when what they show changed
# Each VEN's log of its last messages (diagnostics, ``gateway.oadr20b.message_log``): a refused
# message is logged there as refused, which is no state the refusal changed.
MESSAGE_LOG = b":vtn:messages:"
EXAMPLES_PER_MUTATION = 25
UNREGISTERED_VEN = "VEN_123"  # provisioned, never registered: 463, its polls too


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@dataclass(frozen=True)
class World:
    invitation_id: str
    secret: Path


@pytest.fixture
async def world(api: Api, tmp_path: Path) -> World:
    """A registered VEN with two devices and an invitation (so its event exists), a VEN that
    is provisioned but never registered, and a local file no answer may ever show."""
    await provision(api, m.WORLD_VEN, {"d1": "resource1", "d2": "RES_123"})
    await provision(api, UNREGISTERED_VEN)
    invitation = await api.invite(["d1", "d2"])
    await register(api, m.WORLD_VEN)
    secret = tmp_path / "secret.txt"
    secret.write_text(m.SECRET_MARKER, encoding="utf-8")
    return World(invitation["id"], secret)


MUTATIONS: dict[str, Callable[[World], Callable[[bytes], st.SearchStrategy[bytes]]]] = {
    "byte flips": lambda world: m.byte_flips,
    "truncation": lambda world: m.truncations,
    "deleted element": lambda world: m.deletions,
    "duplicated element": lambda world: m.duplications,
    "entity expansion": lambda world: m.entity_expansions,
    "external entity": lambda world: m.external_entities(world.secret),
    "deep nesting": lambda world: m.deep_nestings,
    "huge values": lambda world: m.huge_values,
}


async def redis_state(redis: Redis, prefix: str) -> dict[bytes, Any]:
    """Every key of this test's prefix with its value (the VTN writes strings and hashes), in
    two pipelines: a round trip per key was most of this test's time."""
    keys = [
        k async for k in redis.scan_iter(match=f"{prefix}*", count=1000) if MESSAGE_LOG not in k
    ]
    async with redis.pipeline(transaction=False) as types:
        for key in keys:
            types.type(key)
        kinds = [k.decode() for k in await types.execute()]
    async with redis.pipeline(transaction=False) as values:
        for key, kind in zip(keys, kinds, strict=True):
            if kind == "string":
                values.get(key)
            elif kind == "hash":
                values.hgetall(key)
            else:
                values.memory_usage(key)
        read = await values.execute()
    return {
        key: value if kind in ("string", "hash") else (kind, value)
        for key, kind, value in zip(keys, kinds, read, strict=True)
    }


async def state(services: Services, redis: Redis, prefix: str) -> tuple[Rows, dict[bytes, Any]]:
    return await database_rows(services.db), await redis_state(redis, prefix)


def was_accepted(reply: Reply) -> bool:
    """An answer after which the VTN may have changed something: HTTP 200 with a payload
    that is a success, or a message it had queued for the VEN (no eiResponse)."""
    if reply.status != 200 or reply.payload is None:
        return False
    outcome = reply.outcome
    return outcome == 200 or isinstance(outcome, str)


def reports_an_error(body: bytes) -> bool:
    """An oadrResponse whose responseCode is not 200: the VEN's error, which the VTN records."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    if not any(e.tag == f"{{{OADR}}}oadrResponse" for e in root.iter()):
        return False
    return any((e.text or "").strip() != "200" for e in root.iter(f"{{{EI}}}responseCode"))


async def keep_registered(api: Api) -> None:
    """A valid oadrCanceledPartyRegistration deregisters the VEN: register it again, so later
    examples reach the services, not only the 463s."""
    if not (await api.get(f"/api/vens/{m.WORLD_VEN}"))["registered"]:
        await register(api, m.WORLD_VEN)


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
@settings(
    max_examples=EXAMPLES_PER_MUTATION,
    derandomize=True,
    database=None,
    deadline=None,
    # The world is made once per test and shared by its examples on purpose: each example
    # compares the state before and after its own posts.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_a_broken_corpus_file_is_refused_or_answered_and_changes_nothing_when_refused(
    kind: str,
    client: TestClient[Any, Any],
    api: Api,
    services: Services,
    redis: Redis,
    settings: Settings,
    world: World,
    data: st.DataObject,
) -> None:
    mutant = data.draw(m.mutants(kind, MUTATIONS[kind](world)), label="mutant")
    body = mutant.body.replace(m.EVENT_PLACEHOLDER.encode(), world.invitation_id.encode())
    await keep_registered(api)
    before = await state(services, redis, settings.redis_prefix)
    for service in SERVICES:
        reply = await post(client, service, body)
        assert m.SECRET_MARKER.encode() not in reply.body, (service, reply.body[:300])
        assert m.EXPANDED_LAUGHS.encode() not in reply.body, (service, reply.body[:300])
        after = await state(services, redis, settings.redis_prefix)
        if not was_accepted(reply):
            rows, keys = after
            changed = changed_tables(before[0], rows)
            if reports_an_error(body):
                changed = {t: c for t, c in changed.items() if t not in VEN_ERROR_TABLES}
                keys = {**keys, **{k: v for k, v in before[1].items() if CACHE in k}}
            assert changed == {}, (service, reply)
            assert keys == before[1], (service, reply)
        before = after
