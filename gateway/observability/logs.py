"""Log lines as text or JSON, each carrying the VEN, event and invitation it is about.

The ids live in context variables: code that works for one VEN or event sets them
(``log_context`` for a block, ``bind_log_context`` for the rest of a task), and a filter on
the handler copies them onto every record logged meanwhile, from any logger. asyncio copies
the context into each task, so ids set in one request or event run never leak into another.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar, Token
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

VEN_ID: ContextVar[str | None] = ContextVar("ven_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("event_id", default=None)
INVITATION_ID: ContextVar[str | None] = ContextVar("invitation_id", default=None)
# The utility's eventID, when the gateway is its VEN (gateway.upstream): not one of our events.
UPSTREAM_EVENT_ID: ContextVar[str | None] = ContextVar("upstream_event_id", default=None)
CONTEXT_FIELDS: dict[str, ContextVar[str | None]] = {
    "ven_id": VEN_ID,
    "event_id": EVENT_ID,
    "invitation_id": INVITATION_ID,
    "upstream_event_id": UPSTREAM_EVENT_ID,
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def bind_log_context(
    *,
    ven_id: str | None = None,
    event_id: str | None = None,
    invitation_id: str | None = None,
    upstream_event_id: str | None = None,
) -> list[Token[str | None]]:
    """Set the ids given (others are left as they are) until the task ends or
    ``reset_log_context`` is called with what this returned."""
    given = {
        "ven_id": ven_id,
        "event_id": event_id,
        "invitation_id": invitation_id,
        "upstream_event_id": upstream_event_id,
    }
    return [CONTEXT_FIELDS[name].set(value) for name, value in given.items() if value is not None]


def reset_log_context(tokens: list[Token[str | None]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


class _LogContext:
    """A plain context manager, not ``@contextmanager``: it is on the path of every poll."""

    __slots__ = ("_given", "_tokens")

    def __init__(self, given: tuple[str | None, ...]) -> None:
        self._given = given
        self._tokens: list[Token[str | None]] = []

    def __enter__(self) -> None:
        self._tokens = [
            var.set(value)
            for var, value in zip(_VARS, self._given, strict=True)
            if value is not None
        ]

    def __exit__(self, *_: object) -> None:
        reset_log_context(self._tokens)


_VARS = (VEN_ID, EVENT_ID, INVITATION_ID, UPSTREAM_EVENT_ID)


def log_context(
    *,
    ven_id: str | None = None,
    event_id: str | None = None,
    invitation_id: str | None = None,
    upstream_event_id: str | None = None,
) -> _LogContext:
    """The ids given, on every line logged inside the block."""
    return _LogContext((ven_id, event_id, invitation_id, upstream_event_id))


class ContextFilter(logging.Filter):
    """Copies the ids in context onto each record (an id passed with ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in CONTEXT_FIELDS.items():
            value = variable.get()
            if value is not None and getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The classic line, with ``ven_id=… event_id=…`` appended when they are known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        if not ids:
            return line
        first, newline, rest = line.partition("\n")  # a traceback stays below the line
        return f"{first} [{' '.join(ids)}]{newline}{rest}"


class UtcJsonFormatter(JsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the ids."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # the record's time, in UTC
        )


def log_handler(log_format: LogFormat) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(UtcJsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Root logging for ``oadr-gateway`` (never at import time)."""
    logging.basicConfig(level=level, handlers=[log_handler(log_format)])
    # Alembic announces each of its plugins at INFO on every start.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
