"""The bot: a commands.Bot whose setup_hook builds the services, loads one cog per feature and syncs commands."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App, build_app
from bot.config import Settings
from bot.discord.channels import ChannelDirectory
from bot.discord.log_context import bind_interaction
from bot.discord.outbox import OutboxSender
from bot.discord.personas_out import NO_MENTIONS, PersonaPoster
from bot.faults import Fault, retryable
from bot.limits import TokenBuckets
from bot.sharding import IDENTIFY_SLACK_S, IdentifyGate, Ownership
from bot.splitting import split_lines
from db.leases import Lease, ShardsTaken, acquire_shards
from personas.persona import Persona
from personas.roster import PERSONAS

if TYPE_CHECKING:
    from bot.discord.monitoring import Monitor
    from bot.ops.metrics import Metrics

__all__ = [
    "EXTENSIONS",
    "CompanionBot",
    "Refusal",
    "ShardedCompanionBot",
    "ShardsTaken",
    "defer_answer",
    "discord_retryable",
    "send_ephemeral",
    "send_public",
    "tell_fault",
    "withdraw_thinking",
]

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.discord.cogs.chat", "bot.discord.cogs.story", "bot.discord.cogs.trivia")
LEASE_CHECK_S = 5.0
"""How often a running process checks that it still holds its shards."""
ALREADY_ACKNOWLEDGED = 40060
"""Discord's error code for answering an interaction that was answered already."""
UNKNOWN_INTERACTION = 10062
"""Discord's error code for an interaction it no longer knows: its 3 s to acknowledge passed (a delivery replayed
after a restart, say)."""
DEFAULT_VOICE = "john"
"""Who tells a user about a failure when no persona is theirs or the feature's (the default persona)."""


class Refusal(app_commands.AppCommandError):
    """A user's mistake or a missing permission: shown to them as a short ephemeral message."""


THINKING_IN_PUBLIC = "t2:thinking-in-public"
"""Key in ``Interaction.extras``: the interaction shows a public "thinking..." that no answer has replaced yet."""
EXPIRED = "t2:expired"
"""Key in ``Interaction.extras``: Discord no longer knows the interaction, so nothing can answer it."""


async def send_ephemeral(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """Answer ephemerally, whether or not the interaction was already answered or deferred.

    After a public deferral (``defer_answer``) not yet answered, the "thinking..." message is deleted first, so
    the answer (a refusal, a failure) is shown to the user alone. A text longer than Discord's 2,000 characters goes
    out as several messages, split at line breaks; ``kwargs`` (a file, say) go with the first."""
    if interaction.extras.get(EXPIRED):
        return
    await withdraw_thinking(interaction)
    for number, part in enumerate(split_lines(text) or [text]):
        extra = kwargs if number == 0 else {}
        if interaction.response.is_done():
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)
        else:
            await interaction.response.send_message(part, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)


async def withdraw_thinking(interaction: discord.Interaction) -> None:
    """Delete a public "thinking..." (``defer_answer``) that no public answer is to replace."""
    if interaction.extras.pop(THINKING_IN_PUBLIC, False):
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()


async def send_public(interaction: discord.Interaction, **kwargs: Any) -> None:
    """Answer for the channel to see: the message takes the place of a public "thinking..." (``defer_answer``)."""
    interaction.extras.pop(THINKING_IN_PUBLIC, None)
    if interaction.extras.get(EXPIRED):
        return
    if interaction.response.is_done():
        await interaction.followup.send(allowed_mentions=NO_MENTIONS, **kwargs)
    else:
        await interaction.response.send_message(allowed_mentions=NO_MENTIONS, **kwargs)


async def defer_answer(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Acknowledge the interaction before anything slow, so Discord's 3 s deadline cannot pass: Discord shows
    "thinking..." until the first followup, which takes its place. A public answer then goes out with
    ``send_public``; ``send_ephemeral`` still answers privately."""
    if interaction.response.is_done():
        return
    try:
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    except discord.NotFound as exc:
        if exc.code != UNKNOWN_INTERACTION:
            raise
        # Too late to answer (a delivery replayed after a restart): the command still runs, so what it stores is
        # stored (its services see a repeat), and whatever it posts in the channel is seen; it answers nobody.
        log.info("interaction %s expired before it was acknowledged; it runs without an answer", interaction.id)
        interaction.extras[EXPIRED] = True
        return
    except discord.HTTPException as exc:
        if exc.code != ALREADY_ACKNOWLEDGED:
            raise
        # Delivered again after a reconnect, and answered the first time: the command still runs, so what it
        # stores is stored once (its services see the repeat); its answer can only fail.
        log.info("interaction %s was answered before; it runs again without a new answer", interaction.id)
        return
    if not ephemeral:
        interaction.extras[THINKING_IN_PUBLIC] = True


def _command_name(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "?"


def discord_retryable(exc: BaseException) -> bool:
    """True when trying again may work: the database or the network failed, or Discord did for a moment."""
    return retryable(exc) or isinstance(exc, discord.DiscordServerError | discord.RateLimited)


def _original(error: BaseException) -> BaseException:
    """The exception a command or button raised, out of discord.py's wrapper."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.__cause__ or error
    return error


async def tell_fault(
    interaction: discord.Interaction, error: BaseException, *, what: str, persona: Persona | None = None
) -> Fault:
    """Log a failure with a reference and tell the user ephemerally, in a persona's voice, with that reference."""
    bot = interaction.client
    error = _original(error)
    if persona is None:
        persona = bot.voice_for(interaction.user) if isinstance(bot, CompanionBot) else PERSONAS[DEFAULT_VOICE]
    if isinstance(bot, CompanionBot):
        fault = bot.fault(error, persona, what=what, logger=log)
    else:
        fault = Fault(error, persona, what=what, logger=log, retry=discord_retryable(error))
    try:
        await send_ephemeral(interaction, fault.text)
    except (discord.HTTPException, TimeoutError, OSError):
        log.warning("could not tell user %s about failure %s", interaction.user.id, fault.ref)
    return fault


class CompanionTree(app_commands.CommandTree["CompanionBot"]):
    """Slash commands; errors become short ephemeral answers, never tracebacks."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Every command's log lines carry its guild, channel and shard (the command runs in this task)."""
        bind_interaction(interaction)
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Tell the user what went wrong: their mistake plainly; a failure in a persona's voice, with a reference."""
        if isinstance(error, Refusal | app_commands.CheckFailure) and str(error):
            message = str(error)
        elif isinstance(error, app_commands.CommandOnCooldown):
            message = f"Slow down: try again in {error.retry_after:.0f} s."
        elif isinstance(error, app_commands.TransformerError):  # not one of the option's choices, an unknown user...
            log.info("command /%s got an option it cannot read: %s", _command_name(interaction), error.type)
            message = "I could not read one of the options you gave. Please pick it from the list Discord offers."
        else:
            command = _command_name(interaction)
            persona = self.client.voice_for(interaction.user, interaction.channel_id, command.split(" ")[0])
            await tell_fault(interaction, error, what=f"/{command} for user {interaction.user.id}", persona=persona)
            return
        try:
            await send_ephemeral(interaction, message)
        except (discord.HTTPException, TimeoutError, OSError):
            log.warning("could not tell user %s about an error", interaction.user.id)


class CompanionBot(commands.Bot):
    """t2-companion on Discord. Services are built in ``setup_hook``, never at import."""

    app: App
    channels: ChannelDirectory
    poster: PersonaPoster
    outbox: OutboxSender
    user_limits: TokenBuckets

    def __init__(
        self,
        settings: Settings,
        *,
        message_content: bool | None = None,
        clock: Callable[[], float] = time.time,
        exclusive: bool = False,
        **client_options: Any,
    ) -> None:
        """``exclusive``: take the lease on this process's shards (or on the SQLite file) before serving, and stop
        if it is lost, so no two processes run one guild."""
        intents = discord.Intents.default()
        intents.message_content = settings.message_content_intent if message_content is None else message_content
        self.metrics: Metrics | None = None
        """What /metrics serves; None without METRICS_PORT (then prometheus-client is never imported)."""
        options: dict[str, Any] = {}
        if settings.metrics_port is not None:
            from bot.ops.http_trace import response_trace
            from bot.ops.metrics import Metrics

            self.metrics = Metrics()
            options["http_trace"] = response_trace(self.metrics.discord_response)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=CompanionTree,
            **client_options,
            **options,
        )
        self.settings = settings
        self.exclusive = exclusive
        self.ownership = Ownership()
        self.lease: Lease | None = None
        self.lease_lost = False
        self._lease_task: asyncio.Task[None] | None = None
        self.clock = clock
        """The games' clock (seconds); tests pass a fake one."""
        self.accepting = True
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._services_ready = False
        self._shutdown: asyncio.Future[None] | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self.monitor: Monitor | None = None
        """The /healthz and /metrics server, while it runs."""

    async def login(self, token: str) -> None:
        """Log in, then bound every request to Discord by DISCORD_TIMEOUT_S (see ``_bound_requests``)."""
        await super().login(token)
        self._bound_requests()

    def _bound_requests(self) -> None:
        """Give each HTTP request to Discord at most DISCORD_TIMEOUT_S, so a post that hangs fails instead.

        The limit is the HTTP session's own, which bounds one request and its answer: discord.py's waits for a
        rate limit (a 429's retry-after, a bucket running empty) happen between requests and are not cut short.
        REST calls, webhook posts and interaction answers all go through this one session.
        """
        session = getattr(self.http, "_HTTPClient__session", None)
        if isinstance(session, aiohttp.ClientSession):
            session._timeout = aiohttp.ClientTimeout(total=self.settings.discord_timeout_s)
        else:
            log.warning("could not bound Discord requests: discord.py's HTTP session was not found")

    def voice_for(self, user: discord.abc.User | None, channel_id: int | None = None, feature: str = "") -> Persona:
        """Who tells ``user`` about a failure: the trivia host in a trivia channel, else the user's own default
        persona if it is at hand (no database read: the database may be what failed), else John."""
        if feature == "trivia" and channel_id is not None and self._services_ready:
            host = self.app.trivia.host_in(channel_id)
            return PERSONAS.get(host or "t800") or PERSONAS["t800"]
        chosen = self.app.chat.cached_default(f"discord:{user.id}") if user and self._services_ready else None
        return PERSONAS.get(chosen or DEFAULT_VOICE) or PERSONAS[DEFAULT_VOICE]

    def fault(self, exc: BaseException, persona: Persona, *, what: str, logger: logging.Logger) -> Fault:
        """A failure to tell a user about (logged with its reference now), counted for /metrics."""
        on_database_error = self.metrics.database_error if self.metrics is not None else None
        return Fault(
            exc, persona, what=what, logger=logger, retry=discord_retryable(exc), on_database_error=on_database_error
        )

    async def find_shards(self) -> Ownership:
        """The shards this process runs: all of them, as one unsharded connection."""
        return Ownership()

    async def setup_hook(self) -> None:
        """Take this process's shards, run the migrations and build the services, load the cogs, sync the slash
        commands, and serve /healthz and /metrics when METRICS_PORT is set."""
        self.ownership = await self.find_shards()
        if self.exclusive:
            self.lease = await acquire_shards(
                self.settings.resolved_database_url(),
                self.ownership,
                wait_s=self.settings.shard_lock_wait_s,
                timeout_s=self.settings.db_timeout_s,
            )
            self._lease_task = asyncio.create_task(self._keep_lease(), name="shard-lease")
        self.app = await build_app(self.settings, clock=self.clock, ownership=self.ownership, metrics=self.metrics)
        self._services_ready = True
        self.channels = ChannelDirectory(self.app.sessions, refresh_s=self.settings.settings_refresh_s)
        self.poster = PersonaPoster(self, self.channels)
        self.outbox = OutboxSender(
            self,
            self.poster,
            self.app.sessions,
            self.app.writer.write_lock,
            self.app.chat.persona,
            poll_s=self.settings.outbox_poll_s,
            max_age_s=self.settings.outbox_max_age_s,
            owns=None if self.ownership.everything else self.ownership.owns,
        )
        self._outbox_task = asyncio.create_task(self.outbox.run(), name="outbox")
        self.user_limits = TokenBuckets(self.settings.chat_turns_per_user, self.settings.chat_turn_period_s)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        if self.metrics is not None and self.settings.metrics_port is not None:
            from bot.discord.monitoring import Monitor

            self.monitor = Monitor(self, self.app, self.metrics, sent=self.outbox.sent_keys)
            await self.monitor.start(self.settings.metrics_host, self.settings.metrics_port)
        if not self.intents.message_content:
            log.warning(
                "the message content intent is off: the bot answers mentions, DMs and slash commands only; "
                "turn on MESSAGE CONTENT INTENT in the developer portal for auto-chat channels"
            )

    async def _keep_lease(self) -> None:
        """Check the lease every few seconds; if another process has taken the shards, stop serving them."""
        assert self.lease is not None
        while True:
            await asyncio.sleep(LEASE_CHECK_S)
            if not await self.lease.keep():
                log.error("another process now runs %s: stopping", self.ownership.describe())
                self.lease_lost = True
                self.request_shutdown()
                return

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
        """Close the gateway connection, then the database, then give the shards up."""
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
            self._lease_task = None
        if self._outbox_task is not None:
            self._outbox_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._outbox_task
            self._outbox_task = None
        await super().close()
        if self.monitor is not None:
            await self.monitor.close()
            self.monitor = None
        if self._services_ready:
            self._services_ready = False
            await self.outbox.close()
            await self.app.close()
        if self.lease is not None:
            lease, self.lease = self.lease, None
            await lease.release()


class ShardedCompanionBot(CompanionBot, commands.AutoShardedBot):
    """The bot on several shards, or on some shards of many (``SHARD_COUNT``, ``SHARD_IDS``): one gateway
    connection per shard, identified as fast as Discord's ``max_concurrency`` allows."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        count = settings.shard_count if isinstance(settings.shard_count, int) else None
        ids = list(settings.shard_ids) if settings.shard_ids is not None else None
        super().__init__(settings, shard_count=count, shard_ids=ids, **options)
        self.identify_gate = IdentifyGate()

    async def find_shards(self) -> Ownership:
        """Ask Discord for the recommended shard count (for ``auto``) and the identify concurrency."""
        recommended, _url, limit = await self.http.get_bot_gateway()
        if self.shard_count is None:
            self.shard_count = recommended
        self.identify_gate.max_concurrency = max(1, int(limit.get("max_concurrency", 1)))
        return self.settings.ownership(self.shard_count)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for this shard's identify bucket (``shard_id % max_concurrency``), not a flat 5 s per shard, in this
        process and, through the lease, in the other processes of the bot."""
        shard = shard_id or 0
        await self.identify_gate.wait(shard)
        if self.lease is not None:
            await self.lease.identify_turn(
                self.identify_gate.bucket(shard), self.identify_gate.interval + IDENTIFY_SLACK_S
            )
