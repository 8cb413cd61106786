"""The gateway's Prometheus instruments, in a registry of their own per application.

Counters and histograms are updated where things happen (the VTN endpoint, the executor);
what lives in the database is read when Prometheus scrapes (``gateway.observability.state``).
There is no global registry: two gateways in one process each have their own.
"""

from __future__ import annotations

import re
from enum import StrEnum

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from redis.exceptions import RedisError

from gateway import __version__
from gateway.error_chain import error_chain

# Label values come from the VTN's own tables (services, message types it decoded): anything
# else is "other", so that no client can grow the number of series.
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
OTHER = "other"
POLL_MESSAGE = "oadrPoll"
# oadrPoll is answered in milliseconds; the top buckets catch a stalled database.
POLL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# How late a sample is taken after its due instant (the executor's pace).
SAMPLE_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Dependency(StrEnum):
    DATABASE = "database"
    REDIS = "redis"

    @classmethod
    def of(cls, err: BaseException) -> Dependency:
        """Which dependency a failure (already known to be one, e.g. a 503) came from: Redis
        when a Redis error is anywhere in its chain, else the database."""
        chain = error_chain(err, implicit=True)
        return cls.REDIS if any(isinstance(e, RedisError) for e in chain) else cls.DATABASE


class Component(StrEnum):
    """Who met the dependency error."""

    VTN = "vtn"
    API = "api"
    EXECUTOR = "executor"
    WORKERS = "workers"
    METRICS = "metrics"


# Label combinations of the VTN's message counter kept looked up.
MAX_CACHED_LABELS = 1024


def _label(value: str | None) -> str:
    return value if value is not None and _LABEL.fullmatch(value) else OTHER


class GatewayMetrics:
    """Every instrument of one gateway, registered in ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._vtn_counters: dict[tuple[str, str | None, int], Counter] = {}
        # The process, platform and GC collectors are per registry too (their module-level
        # instances are bound to the global default registry, which is never used here).
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("oadr_gateway", "The gateway's version", registry=self.registry).info(
            {"version": __version__}
        )
        self.vtn_messages = Counter(
            "oadr_vtn_messages",
            "OpenADR messages the VTN answered, by service, message type and response code "
            "(the OpenADR responseCode; the HTTP status when the answer is no OpenADR payload)",
            ("service", "message_type", "code"),
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "oadr_vtn_poll_duration_seconds",
            "Time from an oadrPoll's arrival to its answer",
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self.dependency_errors = Counter(
            "oadr_dependency_errors",
            "Database and Redis failures (down, unreachable or too slow), by who met them",
            ("dependency", "component"),
            registry=self.registry,
        )
        self.push_messages = Counter(
            "oadr_push_messages",
            "Messages POSTed to push-mode VENs, by message type and outcome (delivered, "
            "failed and to be retried, dropped)",
            ("message_type", "outcome"),
            registry=self.registry,
        )
        self.sample_lag = Histogram(
            "oadr_executor_sample_lag_seconds",
            "How long after its due instant the executor took each sample",
            buckets=SAMPLE_LAG_BUCKETS,
            registry=self.registry,
        )

    def vtn_message(
        self, service: str, message_type: str | None, code: int, seconds: float
    ) -> None:
        """One message the VTN answered: ``message_type`` None when it could not be read,
        ``code`` the OpenADR responseCode answered (or the HTTP status of a plain refusal),
        ``seconds`` from its arrival to the answer."""
        key = (service, message_type, code)
        counter = self._vtn_counters.get(key)
        if counter is None:
            # labels() costs more than the rest of an empty poll's bookkeeping: look each
            # combination up once (bounded: service and message type come off the wire).
            counter = self.vtn_messages.labels(
                _label(service), _label(message_type), str(int(code))
            )
            if len(self._vtn_counters) < MAX_CACHED_LABELS:
                self._vtn_counters[key] = counter
        counter.inc()
        if message_type == POLL_MESSAGE:
            self.poll_seconds.observe(max(seconds, 0.0))

    def push_message(self, message_type: str, outcome: str) -> None:
        """One message pushed to a push-mode VEN: delivered, failed (retried later) or
        dropped (the VEN no longer takes pushes)."""
        self.push_messages.labels(_label(message_type), _label(outcome)).inc()

    def dependency_error(self, dependency: Dependency, component: Component) -> None:
        self.dependency_errors.labels(dependency.value, component.value).inc()

    def executor_sample(self, lag_seconds: float) -> None:
        """A sample taken ``lag_seconds`` after the instant it was due."""
        self.sample_lag.observe(max(lag_seconds, 0.0))


METRICS = web.AppKey("metrics", GatewayMetrics)


def metrics_of(app: web.Application) -> GatewayMetrics:
    """The application's instruments, made on first use (before the app starts)."""
    if METRICS not in app:
        app[METRICS] = GatewayMetrics()
    return app[METRICS]
