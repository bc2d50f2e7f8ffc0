"""Watching the HTTP client's answers (Discord's REST, webhook and interaction requests share one aiohttp session)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp

__all__ = ["ResponseObserver", "response_trace"]

ResponseObserver = Callable[[int, float, str | None], None]
"""Told each answer's status, the seconds it took and its ``X-RateLimit-Scope`` header (None without one)."""


def response_trace(observe: ResponseObserver) -> aiohttp.TraceConfig:
    """A trace for an aiohttp session that tells ``observe`` of every answer, retries of a 429 included."""
    trace = aiohttp.TraceConfig()

    async def started(
        _session: aiohttp.ClientSession, context: SimpleNamespace, _params: aiohttp.TraceRequestStartParams
    ) -> None:
        context.started = time.perf_counter()

    async def ended(
        _session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        response = params.response
        observe(response.status, time.perf_counter() - context.started, response.headers.get("X-RateLimit-Scope"))

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    return trace
