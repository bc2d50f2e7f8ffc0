"""Answers in the order the questions came: one queue of tickets per key (a channel), taken before any await."""

from __future__ import annotations

import asyncio
import logging

__all__ = ["InOrder", "Ticket"]

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
"""A ticket never waits longer than this for the ones before it (a stuck turn must not silence a channel)."""


class Ticket:
    """One place in a key's queue: ``wait`` until every earlier ticket is released, then ``release`` this one."""

    def __init__(self, owner: InOrder, key: object, before: asyncio.Future[None] | None) -> None:
        self._owner = owner
        self._key = key
        self._before = before
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait(self) -> None:
        """Wait until the tickets taken before this one are released (at most ``max_wait_s``)."""
        before = self._before
        if before is None or before.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(before), self._owner.max_wait_s)
        except TimeoutError:
            log.warning("an earlier turn for %s took over %.0f s; going ahead", self._key, self._owner.max_wait_s)

    def release(self) -> None:
        """Let the next ticket go once every earlier one has (idempotent; call it on every way out)."""
        before = self._before
        if before is None or before.done():
            self._finish()
        else:
            before.add_done_callback(lambda _: self._finish())

    def _finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
        if self._owner._tails.get(self._key) is self._done:
            del self._owner._tails[self._key]


class InOrder:
    """Lets work for the same key finish in the order it started, while the work itself runs concurrently."""

    def __init__(self, *, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._tails: dict[object, asyncio.Future[None]] = {}

    def ticket(self, key: object) -> Ticket:
        """Take the next place in ``key``'s queue; synchronous, so the order is the order of the calls."""
        ticket = Ticket(self, key, self._tails.get(key))
        self._tails[key] = ticket._done
        return ticket

    def __len__(self) -> int:
        return len(self._tails)
