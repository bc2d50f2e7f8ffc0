"""The bot: a commands.Bot whose setup_hook builds the services, loads one cog per feature and syncs commands."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App, build_app
from bot.config import Settings
from bot.discord.channels import ChannelDirectory
from bot.discord.outbox import OutboxSender
from bot.discord.personas_out import NO_MENTIONS, PersonaPoster
from bot.limits import TokenBuckets

__all__ = ["EXTENSIONS", "CompanionBot", "Refusal", "send_ephemeral"]

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.discord.cogs.chat", "bot.discord.cogs.story", "bot.discord.cogs.trivia")
APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."


class Refusal(app_commands.AppCommandError):
    """A user's mistake or a missing permission: shown to them as a short ephemeral message."""


async def send_ephemeral(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """Answer ephemerally, whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)


def _command_name(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "?"


class CompanionTree(app_commands.CommandTree["CompanionBot"]):
    """Slash commands; errors become short ephemeral answers, never tracebacks."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Tell the user what went wrong: their mistake plainly, our bug with an apology."""
        if isinstance(error, Refusal | app_commands.CheckFailure) and str(error):
            message = str(error)
        elif isinstance(error, app_commands.CommandOnCooldown):
            message = f"Slow down: try again in {error.retry_after:.0f} s."
        elif isinstance(error, app_commands.TransformerError):  # not one of the option's choices, an unknown user...
            log.info("command /%s got an option it cannot read: %s", _command_name(interaction), error.type)
            message = "I could not read one of the options you gave. Please pick it from the list Discord offers."
        else:
            log.error("command /%s failed for user %s", _command_name(interaction), interaction.user.id, exc_info=error)
            message = APOLOGY
        try:
            await send_ephemeral(interaction, message)
        except discord.HTTPException:
            log.warning("could not tell user %s about an error", interaction.user.id)


class CompanionBot(commands.Bot):
    """t2-companion on Discord. Services are built in ``setup_hook``, never at import."""

    app: App
    channels: ChannelDirectory
    poster: PersonaPoster
    outbox: OutboxSender
    user_limits: TokenBuckets

    def __init__(
        self, settings: Settings, *, message_content: bool | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = settings.message_content_intent if message_content is None else message_content
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=CompanionTree,
        )
        self.settings = settings
        self.clock = clock
        """The games' clock (seconds); tests pass a fake one."""
        self.accepting = True
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._services_ready = False
        self._shutdown: asyncio.Future[None] | None = None
        self._outbox_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        """Run the migrations and build the services, load the cogs, sync the slash commands."""
        self.app = await build_app(self.settings, clock=self.clock)
        self._services_ready = True
        self.channels = ChannelDirectory(self.app.sessions)
        self.poster = PersonaPoster(self, self.channels)
        self.outbox = OutboxSender(
            self,
            self.poster,
            self.app.sessions,
            self.app.writer.write_lock,
            self.app.chat.persona,
            poll_s=self.settings.outbox_poll_s,
            max_age_s=self.settings.outbox_max_age_s,
        )
        self._outbox_task = asyncio.create_task(self.outbox.run(), name="outbox")
        self.user_limits = TokenBuckets(self.settings.chat_turns_per_user, self.settings.chat_turn_period_s)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        if not self.intents.message_content:
            log.warning(
                "the message content intent is off: the bot answers mentions, DMs and slash commands only; "
                "turn on MESSAGE CONTENT INTENT in the developer portal for auto-chat channels"
            )

    async def sync_commands(self) -> None:
        """Sync slash commands globally, or to DISCORD_GUILD_ID only (instant, for testing)."""
        guild_id = self.settings.discord_guild_id
        if guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d slash commands %s", len(synced), f"to guild {guild_id}" if guild_id else "globally")

    async def on_ready(self) -> None:
        """Once connected, keep the start-up heap out of garbage collection, so collections stay short."""
        gc.collect()
        gc.freeze()
        log.info("connected as %s to %d guilds", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        """Plain messages are handled by the chat cog; there are no prefix commands."""

    def track(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a turn as a task that a shutdown waits for."""
        task = asyncio.ensure_future(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    def request_shutdown(self) -> None:
        """Start a graceful shutdown (from a signal handler); a second request does nothing."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self.shutdown())

    async def shutdown(self, grace_s: float = 15.0) -> None:
        """Stop taking new turns, let the ones in flight finish, then close the gateway and the database."""
        self.accepting = False
        if self._in_flight:
            log.info("finishing %d turns in flight", len(self._in_flight))
            await asyncio.wait(self._in_flight, timeout=grace_s)
        await self.close()

    async def close(self) -> None:
        """Close the gateway connection, then the database."""
        if self._outbox_task is not None:
            self._outbox_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._outbox_task
            self._outbox_task = None
        await super().close()
        if self._services_ready:
            self._services_ready = False
            await self.outbox.close()
            await self.app.close()
