"""Which dependency a failure came from, for ``oadr_dependency_errors_total``."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from gateway.observability.metrics import Dependency


def test_a_redis_error_anywhere_in_the_chain_is_redis() -> None:
    wrapped = RuntimeError("publishing failed")
    wrapped.__cause__ = RedisConnectionError("refused")
    assert Dependency.of(wrapped) is Dependency.REDIS
    assert Dependency.of(RedisConnectionError("refused")) is Dependency.REDIS


def test_anything_else_is_the_database() -> None:
    err = OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    assert Dependency.of(err) is Dependency.DATABASE
    assert Dependency.of(ConnectionRefusedError("refused")) is Dependency.DATABASE


def test_a_cycle_in_the_chain_ends() -> None:
    first, second = OSError("a"), OSError("b")
    first.__context__, second.__context__ = second, first
    assert Dependency.of(first) is Dependency.DATABASE
