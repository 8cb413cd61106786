"""``GET /metrics`` (Prometheus) and ``GET /api/docs`` (the API's documentation page).

``/metrics`` needs no token by default, like ``/health``: it says how busy the gateway is,
never what it holds. With ``metrics_token`` set it needs ``Authorization: Bearer <that
token>``, a credential of its own, so that Prometheus never holds the admin token (which
can write).
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.http.errors import error_response
from gateway.http.handlers import SERVICES
from gateway.observability.docs_page import DOCS_PAGE
from gateway.observability.metrics import metrics_of
from gateway.observability.state import StateCollector

STATE = web.AppKey("metrics-state", StateCollector)
METRICS_PATH = "/metrics"
DOCS_PATH = "/api/docs"


def setup_observability(app: web.Application) -> None:
    """The metrics registry of ``app``, its scrape-time collector, and both routes."""
    metrics = metrics_of(app)
    state = StateCollector(metrics)
    metrics.registry.register(state)
    app[STATE] = state
    app.router.add_get(METRICS_PATH, metrics_handler)
    app.router.add_get(DOCS_PATH, docs_handler)


async def metrics_handler(request: web.Request) -> web.Response:
    app = request.app
    services = app.get(SERVICES)
    token = services.settings.metrics_token if services is not None else None
    if token is not None and not _bearer_matches(request, token.get_secret_value()):
        return error_response(
            401, "unauthorized", "/metrics needs 'Authorization: Bearer <metrics_token>'"
        )
    await app[STATE].refresh(services)
    body = generate_latest(metrics_of(app).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _bearer_matches(request: web.Request, expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


async def docs_handler(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html", charset="utf-8")
