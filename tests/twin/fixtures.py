"""pytest fixtures and helpers for running a real discord.py client against the twin.

Use from a test module with ``pytest_plugins = ["tests.twin.fixtures"]`` (or import
``run_client`` directly)::

    async def test_hello(twin):
        guild = twin.add_guild()
        general = twin.add_text_channel(guild.id)
        alice = twin.add_member(guild.id, name="alice")
        async with run_client(twin, MyBot()) as bot:
            await twin.send_message(general.id, alice.id, "!hello")
            [reply] = await twin.wait_for_messages(general.id, 1)
"""

# Waiting helpers take an explicit ``timeout`` (seconds) on purpose: it is their API.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import discord
import pytest

from .server import DiscordTwin

ClientT = TypeVar("ClientT", bound=discord.Client)


ALLOW_429 = "allow_429"
"""The marker (registered in pyproject.toml) of a test that expects the twin to answer 429 on its own."""


@pytest.fixture(autouse=True)
def no_rate_limited_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test at teardown if any twin it built answered 429 on its own, unless marked ``allow_429``.

    Discord's limits are on in every twin, so each Discord test also checks that the bot never exceeds them in
    normal use. 429s injected with ``fail_next`` are expected by construction and not counted.
    """
    DiscordTwin.created.clear()
    yield
    twins, DiscordTwin.created[:] = list(DiscordTwin.created), []
    if request.node.get_closest_marker(ALLOW_429) is not None:
        return
    limited = [r for t in twins for r in t.rate_limited]
    if limited:
        lines = [
            f"  {r.method} {r.path} -> 429 scope={r.rate_limit_scope} "
            f"bucket={r.response_headers.get('X-RateLimit-Bucket')} retry_after={(r.response or {}).get('retry_after')}"
            for r in limited
        ]
        pytest.fail("the twin rate limited the client (mark the test allow_429 if expected):\n" + "\n".join(lines))


@pytest.fixture
async def twin() -> AsyncIterator[DiscordTwin]:
    """A started ``DiscordTwin`` on a free 127.0.0.1 port with an empty world; stopped afterwards.

    Fails the test at teardown if one of the twin's own handlers raised (a twin bug).
    """
    instance = DiscordTwin()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()
    if instance.server_errors:
        pytest.fail(f"the twin's REST handlers raised: {instance.server_errors!r}")


class _ErrorCollector(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)
        self.seen.append(record)


@contextlib.asynccontextmanager
async def run_client(
    twin: DiscordTwin,
    client: ClientT,
    token: str | None = None,
    *,
    timeout: float = 10.0,
    fast_ready: bool = True,
    fail_on_logged_errors: bool = True,
    heartbeat_timeout: float | None = None,
) -> AsyncIterator[ClientT]:
    """Patch discord.py to the twin, start ``client`` and yield it once it is ready; close it at the end.

    * ``client.start()`` and ``client.wait_until_ready()`` are awaited together, so an error
      in ``start()`` (``LoginFailure``, a parser ``KeyError`` ...) is raised here instead of hanging;
      afterwards the twin watches the task and its waits raise ``ClientCrashed`` if it dies.
    * ``fast_ready`` lowers discord.py's ``guild_ready_timeout`` (2s of silence after the last
      GUILD_CREATE before ``on_ready``; a private attribute of the connection state) to 0.05s,
      unless the client was built with a non-default value.
    * ERROR records logged by discord.py (``Ignoring exception in on_message`` /
      ``... in command`` / ``... in view``: how discord.py reports handler errors) are collected
      into ``twin.client_errors``, shown in wait timeouts, and with ``fail_on_logged_errors``
      make the block fail at exit.
    * ``heartbeat_timeout`` sets discord.py's ``Client(heartbeat_timeout=)`` (default 60s): how long the client
      goes without hearing from the gateway before it closes the socket and RESUMEs.
    """
    collector = _ErrorCollector(twin.client_errors)
    logger = logging.getLogger("discord")
    logger.addHandler(collector)
    try:
        with twin.patch_discord():
            async with client:
                state = client._connection
                if fast_ready and state.guild_ready_timeout == 2.0:
                    state.guild_ready_timeout = 0.05
                if heartbeat_timeout is not None:
                    state.heartbeat_timeout = heartbeat_timeout
                start = asyncio.create_task(client.start(token or twin.token), name="twin-client-start")
                ready = asyncio.create_task(client.wait_until_ready(), name="twin-client-ready")
                try:
                    done, _ = await asyncio.wait({start, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    if start in done:
                        start.result()  # re-raises LoginFailure, parser errors, ...
                        raise RuntimeError("client.start() returned before the client was ready")
                    if ready not in done:
                        raise TimeoutError(f"client not ready after {timeout}s\n{twin.describe()}")
                    twin.watch(start)
                    yield client
                finally:
                    ready.cancel()
                    await client.close()
                    crash: BaseException | None = None
                    try:
                        await asyncio.wait_for(start, 5.0)
                    except asyncio.CancelledError:
                        pass
                    except BaseException as exc:
                        crash = exc
                if crash is not None:  # the body succeeded but the client died meanwhile
                    raise crash
    finally:
        logger.removeHandler(collector)
    if fail_on_logged_errors and collector.seen:
        first = collector.seen[0]
        details = "\n".join(r.getMessage() for r in collector.seen)
        cause = first.exc_info[1] if first.exc_info else None
        raise AssertionError(f"discord.py logged errors while the client ran:\n{details}") from cause
