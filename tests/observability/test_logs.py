"""Log lines as text or JSON, with the VEN, event and invitation ids of their context."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.observability.logs import (
    ContextFilter,
    TextFormatter,
    UtcJsonFormatter,
    bind_log_context,
    log_context,
)

Logged = tuple[logging.Logger, io.StringIO, "logging.StreamHandler[io.StringIO]"]


@pytest.fixture
def logged() -> Iterator[Logged]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.observability.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_the_ids_in_context(logged: Logged) -> None:
    logger, stream, handler = logged
    handler.setFormatter(UtcJsonFormatter())
    with log_context(ven_id="ven-7", event_id="ev-1"):
        logger.info("answered %s", "optIn")
    logger.info("after")
    first, second = (json.loads(line) for line in lines(stream))
    assert {k: first[k] for k in ("level", "logger", "message", "ven_id", "event_id")} == {
        "level": "INFO", "logger": "tests.observability.logs", "message": "answered optIn",
        "ven_id": "ven-7", "event_id": "ev-1",
    }  # fmt: skip
    assert first["time"].endswith("+00:00")  # UTC
    assert "invitation_id" not in first
    assert "ven_id" not in second
    assert second["message"] == "after"


def test_an_id_given_with_extra_wins(logged: Logged) -> None:
    logger, stream, handler = logged
    handler.setFormatter(UtcJsonFormatter())
    with log_context(ven_id="outer"):
        logger.info("x", extra={"ven_id": "inner"})
    assert json.loads(lines(stream)[0])["ven_id"] == "inner"


def test_text_lines_append_the_ids_and_keep_tracebacks_below(logged: Logged) -> None:
    logger, stream, handler = logged
    handler.setFormatter(TextFormatter())
    with log_context(invitation_id="inv-3"):
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
    logger.info("plain")
    out = lines(stream)
    assert out[0].endswith("ERROR tests.observability.logs: failed [invitation_id=inv-3]")
    assert out[1] == "Traceback (most recent call last):"
    assert out[-1].endswith("INFO tests.observability.logs: plain")


async def test_ids_bound_in_a_task_stay_in_that_task(logged: Logged) -> None:
    logger, stream, handler = logged
    handler.setFormatter(UtcJsonFormatter())
    release = asyncio.Event()

    async def run(event_id: str) -> None:
        bind_log_context(event_id=event_id)
        await release.wait()
        logger.info("sample")

    tasks = [asyncio.create_task(run(e)) for e in ("e1", "e2")]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    logger.info("outside")
    events = [json.loads(line).get("event_id") for line in lines(stream)]
    assert events == ["e1", "e2", None]
