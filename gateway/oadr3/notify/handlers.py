"""HTTP: ``/subscriptions`` (CRUD) and ``/notifiers`` (bindings, MQTT topic names).

Routes of the 3.x sub-application (``gateway.oadr3.wiring``): who asks is
``auth.principal_of``, failures are its problem bodies. A subscription is stored only once
each of its callbacks has answered the ``?echo=`` challenge (Definition.md, Webhooks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.domain.errors import NotFound
from gateway.http.handlers import SERVICES
from gateway.oadr3.auth import Principal, Role, Scope, principal_of, require
from gateway.oadr3.notify.callbacks import CallbackRefused, check_url
from gateway.oadr3.notify.engine import NOTIFY, Notify
from gateway.oadr3.notify.requests import RequestInvalid, subscription_query, subscription_terms
from gateway.oadr3.notify.rows import subject_from
from gateway.oadr3.notify.rules import Operation, topic_names
from gateway.oadr3.notify.subscriptions import Client, SubscriptionTerms
from gateway.oadr3.problems import Problem, bad_request, forbidden, not_found

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guarded = Callable[[web.Request, Principal, Notify], Awaitable[web.StreamResponse]]


def client_of(principal: Principal) -> Client:
    return Client(principal.client_id, principal.role is Role.BL, principal.ven_id)


def _guarded(handler: Guarded) -> Handler:
    async def run(request: web.Request) -> web.StreamResponse:
        principal = await principal_of(request)
        notify = request.config_dict.get(NOTIFY)
        if notify is None:
            raise Problem(501, "Not Implemented", "notifications are off (oadr3_notify_enabled)")
        try:
            return await handler(request, principal, notify)
        except RequestInvalid as err:
            raise bad_request(str(err)) from err

    return run


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as err:
        raise RequestInvalid("the body is not JSON") from err


async def _checked(request: web.Request, notify: Notify, terms: SubscriptionTerms) -> None:
    """The program exists and every callback is allowed and answers the echo challenge."""
    if terms.program_id is not None:
        try:
            await request.config_dict[SERVICES].programs.get(terms.program_id)
        except NotFound as err:
            raise RequestInvalid(f"programID: no program {terms.program_id!r}") from err
    urls = sorted({callback.url for callback in terms.callbacks})
    try:
        for url in urls:
            check_url(url, notify.callbacks.policy)
        await asyncio.gather(*(notify.callbacks.challenge(url) for url in urls))
    except CallbackRefused as err:
        raise RequestInvalid(f"objectOperations.callbackUrl: {err}") from err


def _found(subscription: dict[str, Any] | None, subscription_id: str) -> dict[str, Any]:
    if subscription is None:
        raise not_found(f"no subscription {subscription_id!r}")
    return subscription


async def _told(notify: Notify, subscription: dict[str, Any], operation: Operation) -> None:
    key = f"{operation.value.lower()}:{subscription['id']}:{subscription['modificationDateTime']}"
    await notify.feed.publish_mqtt(subject_from(subscription), subscription["id"], operation, key)


@_guarded
async def search_subscriptions(
    request: web.Request, principal: Principal, notify: Notify
) -> web.StreamResponse:
    require(principal, Scope.READ_VEN_OBJECTS)
    query = subscription_query(request.query, request.query.getall("objects", []))
    return web.json_response(await notify.store.find(client_of(principal), query))


@_guarded
async def create_subscription(
    request: web.Request, principal: Principal, notify: Notify
) -> web.StreamResponse:
    require(principal, Scope.WRITE_SUBSCRIPTIONS)
    terms = subscription_terms(await _body(request))
    await _checked(request, notify, terms)
    created = await notify.store.create(client_of(principal), terms)
    await _told(notify, created, Operation.CREATE)
    return web.json_response(created, status=201)


@_guarded
async def get_subscription(
    request: web.Request, principal: Principal, notify: Notify
) -> web.StreamResponse:
    require(principal, Scope.READ_VEN_OBJECTS)
    subscription_id = request.match_info["subscriptionID"]
    found = await notify.store.get(client_of(principal), subscription_id)
    return web.json_response(_found(found, subscription_id))


@_guarded
async def update_subscription(
    request: web.Request, principal: Principal, notify: Notify
) -> web.StreamResponse:
    require(principal, Scope.WRITE_SUBSCRIPTIONS)
    subscription_id = request.match_info["subscriptionID"]
    terms = subscription_terms(await _body(request))
    _found(await notify.store.get(client_of(principal), subscription_id), subscription_id)
    await _checked(request, notify, terms)
    updated = _found(
        await notify.store.update(client_of(principal), subscription_id, terms), subscription_id
    )
    await _told(notify, updated, Operation.UPDATE)
    return web.json_response(updated)


@_guarded
async def delete_subscription(
    request: web.Request, principal: Principal, notify: Notify
) -> web.StreamResponse:
    require(principal, Scope.WRITE_SUBSCRIPTIONS)
    subscription_id = request.match_info["subscriptionID"]
    gone = _found(await notify.store.delete(client_of(principal), subscription_id), subscription_id)
    await _told(notify, gone, Operation.DELETE)
    return web.json_response(gone)


@_guarded
async def list_notifiers(
    request: web.Request, principal: Principal, notify: Notify
) -> web.StreamResponse:
    body: dict[str, Any] = {"WEBHOOK": True}
    if notify.mqtt is not None:
        body["MQTT"] = {
            "URIS": [notify.mqtt.broker.url],
            "serialization": "JSON",
            "authentication": {"method": "ANONYMOUS"},
        }
    return web.json_response(body)


# The topic-name routes: path under /notifiers/mqtt/topics -> (collection, has CREATE, BL only).
TOPIC_ROUTES: dict[str, tuple[str, bool, bool]] = {
    "programs": ("programs", True, False),
    "programs/{programID}": ("programs/{programID}", False, False),
    "events": ("events", True, True),
    "programs/{programID}/events": ("programs/{programID}/events", True, False),
    "reports": ("reports", True, True),
    "subscriptions": ("subscriptions", True, True),
    "vens": ("vens", True, True),
    "vens/{venID}": ("vens/{venID}", False, False),
    "resources": ("resources", True, True),
    "vens/{venID}/events": ("vens/{venID}/events", True, False),
    "vens/{venID}/programs": ("vens/{venID}/programs", True, False),
    "vens/{venID}/resources": ("vens/{venID}/resources", True, False),
}


def topics_handler(collection: str, with_create: bool, business_only: bool) -> Handler:
    @_guarded
    async def topics(
        request: web.Request, principal: Principal, notify: Notify
    ) -> web.StreamResponse:
        if notify.mqtt is None:
            raise not_found("this VTN has no MQTT notifier")
        client = client_of(principal)
        if business_only and not client.business:
            raise forbidden("these topics are for business-logic clients")
        ven_id = request.match_info.get("venID")
        if ven_id is not None and not client.business and ven_id != client.ven_id:
            raise forbidden("a VEN reads the topics of its own VEN only")
        name = collection.format_map(request.match_info)
        return web.json_response({"topics": topic_names(name, with_create=with_create)})

    return topics


def add_routes(api: web.Application) -> None:
    """On the 3.x sub-application (paths relative to ``oadr3_base_path``)."""
    api.router.add_get("/subscriptions", search_subscriptions)
    api.router.add_post("/subscriptions", create_subscription)
    api.router.add_get("/subscriptions/{subscriptionID}", get_subscription)
    api.router.add_put("/subscriptions/{subscriptionID}", update_subscription)
    api.router.add_delete("/subscriptions/{subscriptionID}", delete_subscription)
    api.router.add_get("/notifiers", list_notifiers)
    for path, (collection, with_create, business_only) in TOPIC_ROUTES.items():
        api.router.add_get(
            f"/notifiers/mqtt/topics/{path}",
            topics_handler(collection, with_create, business_only),
        )
