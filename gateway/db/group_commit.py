"""A group commit: what arrives while one write is under way goes together in the next, in one
transaction, so a thousand VENs at once cost a few writes, not a thousand one after the other
(on SQLite, a writer at a time). The writes take turns with the push loop's other database
steps (``turns``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        turns: asyncio.Semaphore,
    ) -> None:
        """``write`` stores a batch and gives each item's result, in order."""
        self._write = write
        self._turns = turns
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """``item``'s result once its batch is written; what the write raised, else."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def settled(self) -> None:
        """Until the writes under way and queued are done (their results are their
        submitters')."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.wait([self._flushing])

    async def _flush(self) -> None:
        while self._waiting:
            async with self._turns:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as err:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(err)
                    continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
