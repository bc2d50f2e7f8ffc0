"""Reading the terminal without blocking the event loop, and without losing a line between front ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["LineReader", "ReadLine", "read_terminal_line"]

ReadLine = Callable[[str], Awaitable[str]]
"""Show a prompt, return the next line; raises EOFError at the end of input."""


async def read_terminal_line(prompt: str) -> str:
    """``input()`` in a worker thread, so timers keep running while the user types."""
    return await asyncio.to_thread(input, prompt)


class LineReader:
    """One line at a time from ``read_line``; a line still being typed when a game ends goes to the next reader."""

    def __init__(self, read_line: ReadLine) -> None:
        self._read_line = read_line
        self._pending: asyncio.Future[str] | None = None

    async def line(self, prompt: str = "") -> str:
        """The next line (the one already being read, if any)."""
        future = self._take() or asyncio.ensure_future(self._read_line(prompt))
        return await future

    async def line_within(self, seconds: float, prompt: str = "") -> str | None:
        """The next line if one arrives within ``seconds``, else None (the read goes on in the background)."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._read_line(prompt))
        done, _ = await asyncio.wait({self._pending}, timeout=seconds)
        if not done:
            return None
        future = self._take()
        assert future is not None
        return future.result()

    def _take(self) -> asyncio.Future[str] | None:
        future, self._pending = self._pending, None
        return future
