"""The errors one failure carries, walked once each: the one place that follows an exception's
chain (the 503 rule in ``http.errors`` and the metrics' dependency in ``observability``)."""

from __future__ import annotations

from collections.abc import Iterator


def error_chain(err: BaseException, *, implicit: bool) -> Iterator[BaseException]:
    """``err``, then what it was raised from (``__cause__``) and the driver error a SQLAlchemy
    or emulated DBAPI error wraps (``orig``); with ``implicit``, also the error being handled
    when it was raised (``__context__``). Each error once, so a cycle ends."""
    seen: set[int] = set()
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        links = [getattr(current, "orig", None), current.__cause__]
        if implicit:
            links.append(current.__context__)
        pending.extend(linked for linked in links if isinstance(linked, BaseException))
