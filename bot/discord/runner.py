"""Running the bot on Discord until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import discord

from bot.config import Settings
from bot.discord.client import CompanionBot, ShardedCompanionBot, ShardsTaken

__all__ = ["run_discord", "serve"]

log = logging.getLogger(__name__)


def _stopper(bot: CompanionBot) -> Callable[[], None]:
    def stop() -> None:
        log.info("stopping: finishing the turns in flight")
        bot.request_shutdown()

    return stop


async def serve(settings: Settings) -> int:
    """Serve until SIGINT or SIGTERM; falls back to no message content intent when Discord refuses it.

    Exit codes: 0 stopped, 2 token refused, 3 the shards (or the SQLite file) are run by another process.
    """
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    message_content = settings.message_content_intent
    bot_class = ShardedCompanionBot if settings.sharded else CompanionBot
    while True:
        bot = bot_class(settings, message_content=message_content, exclusive=True)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stopper(bot))
        try:
            async with bot:
                await bot.start(token)
            return 3 if bot.lease_lost else 0
        except ShardsTaken as exc:
            log.error("%s. Give each process its own SHARD_IDS, or stop the other process first.", exc)
            return 3
        except discord.PrivilegedIntentsRequired:
            if not message_content:
                raise
            log.warning(
                "Discord refused the message content intent: enable MESSAGE CONTENT INTENT for this bot in the "
                "developer portal. Continuing without it: mentions, DMs and slash commands still work."
            )
            message_content = False
        except discord.LoginFailure:
            log.error("Discord rejected DISCORD_TOKEN: check the bot token in the developer portal")
            return 2
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


def run_discord(settings: Settings) -> int:
    """Connect to Discord and serve until stopped; returns the exit code."""
    return asyncio.run(serve(settings))
