"""Reading the terminal without blocking the event loop, and without losing a line between front ends."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["LineReader", "ReadLine", "read_terminal_line", "run_interactive"]

_INPUT_THREAD = "console-input"
INTERRUPTED = 130
"""The exit code of a program ended by Ctrl-C."""

ReadLine = Callable[[str], Awaitable[str]]
"""Show a prompt, return the next line; raises EOFError at the end of input."""


async def read_terminal_line(prompt: str) -> str:
    """``input()`` in a thread of its own, so timers keep running while the user types.

    The thread is a daemon, not one of the event loop's workers: on Ctrl-C the program ends at once instead of
    waiting for a line that is still being typed.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            assert line is not None
            future.set_result(line)

    def read() -> None:
        try:
            line = input(prompt)
        except BaseException as error:  # EOFError on Ctrl-D, or whatever input() raises: the caller sees it
            outcome: tuple[str | None, BaseException | None] = (None, error)
        else:
            outcome = (line, None)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed: the program is ending
            pass

    threading.Thread(target=read, name=_INPUT_THREAD, daemon=True).start()
    return await future


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


def run_interactive(program: Coroutine[Any, Any, int]) -> int:
    """Run a terminal program; Ctrl-C cancels it (its ``finally`` blocks save and close) and ends the process.

    A thread may still wait for a line of input then. A normal exit would have the interpreter take the lock of a
    piped stdin that this thread holds, and abort; so the streams are flushed and the process ends at once.
    """
    try:
        return asyncio.run(program)
    except KeyboardInterrupt:
        if not any(thread.name == _INPUT_THREAD and thread.is_alive() for thread in threading.enumerate()):
            return INTERRUPTED
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(INTERRUPTED)
