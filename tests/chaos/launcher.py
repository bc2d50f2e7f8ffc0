"""The bot as ``python -m bot run`` runs it, pointed at a twin: ``python -m tests.chaos.launcher PORT``.

Settings come from the environment (``DISCORD_TOKEN``, ``DATABASE_URL`` ...) exactly as for the real bot; only
discord.py's REST base, gateway address and the wait for guilds after READY are changed, as ``run_client`` does
for a bot in the test process. With ``T2_TWIN_PROCESS`` set, every HTTP request of the process (REST, webhooks and
the gateway's websocket upgrade) carries it in the ``X-Twin-Process`` header, so a test with several bot processes
can tell which one made a request or identified a session.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aiohttp
import discord
import yarl

from bot.__main__ import main as bot_main

GUILD_READY_TIMEOUT_S = 0.05
"""discord.py waits this long after the last GUILD_CREATE before on_ready (2 s by default)."""
PROCESS_HEADER = "X-Twin-Process"
"""The header naming the bot process that made a request (from ``T2_TWIN_PROCESS``)."""


def point_at_twin(port: int) -> None:
    """Send discord.py's REST calls, webhooks and gateway connection to the twin on 127.0.0.1:``port``."""
    discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
    original = discord.state.ConnectionState.__init__

    def init(self: discord.state.ConnectionState, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.guild_ready_timeout = GUILD_READY_TIMEOUT_S

    discord.state.ConnectionState.__init__ = init  # type: ignore[method-assign]


def label_requests(label: str) -> None:
    """Send ``X-Twin-Process: label`` with every request of every aiohttp session of this process."""
    original = aiohttp.ClientSession.__init__

    def init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        headers = dict(kwargs.pop("headers", None) or {})
        headers[PROCESS_HEADER] = label
        original(self, *args, headers=headers, **kwargs)

    aiohttp.ClientSession.__init__ = init  # type: ignore[method-assign]


def main() -> int:
    point_at_twin(int(sys.argv[1]))
    if label := os.environ.get("T2_TWIN_PROCESS"):
        label_requests(label)
    return bot_main(["run"])


if __name__ == "__main__":
    sys.exit(main())
