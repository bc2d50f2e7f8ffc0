"""The bot as ``python -m bot run`` runs it, pointed at a twin: ``python -m tests.chaos.launcher PORT``.

Settings come from the environment (``DISCORD_TOKEN``, ``DATABASE_URL`` ...) exactly as for the real bot; only
discord.py's REST base, gateway address and the wait for guilds after READY are changed, as ``run_client`` does
for a bot in the test process.
"""

from __future__ import annotations

import sys
from typing import Any

import discord
import yarl

from bot.__main__ import main as bot_main

GUILD_READY_TIMEOUT_S = 0.05
"""discord.py waits this long after the last GUILD_CREATE before on_ready (2 s by default)."""


def point_at_twin(port: int) -> None:
    """Send discord.py's REST calls, webhooks and gateway connection to the twin on 127.0.0.1:``port``."""
    discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
    original = discord.state.ConnectionState.__init__

    def init(self: discord.state.ConnectionState, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.guild_ready_timeout = GUILD_READY_TIMEOUT_S

    discord.state.ConnectionState.__init__ = init  # type: ignore[method-assign]


def main() -> int:
    point_at_twin(int(sys.argv[1]))
    return bot_main(["run"])


if __name__ == "__main__":
    sys.exit(main())
