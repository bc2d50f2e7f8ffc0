"""Playing: answers read from channel messages, the ticker that moves games along, posting as the host."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import discord
from discord.ext import commands

from bot.discord.client import CompanionBot
from bot.discord.cogs.chat.listener import user_key
from bot.discord.cogs.trivia.buttons import choice_view
from bot.discord.personas_out import NO_MENTIONS, persona_embed
from bot.keyed import KeyedLocks
from bot.trivia.options import Announcement
from bot.trivia.service import TriviaService
from personas.roster import PERSONAS

__all__ = ["TICK_S", "TriviaPlay"]

log = logging.getLogger(__name__)

TICK_S = 0.5
"""How often the ticker asks the service to move games along (hints, time-outs, next questions)."""


class TriviaPlay(commands.Cog, name="TriviaPlay"):
    """Reads open answers, runs the ticker, and posts what the service announces, in order per channel."""

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot
        self.tick_s = TICK_S
        self._ticker: asyncio.Task[None] | None = None
        self._order: KeyedLocks[int] = KeyedLocks()
        """Per channel, held while its announcements are posted; gone once nobody posts there."""
        self._resumed = asyncio.Event()
        """Set once the stored games are running again, so an answer that comes first is not taken for chat."""

    @property
    def service(self) -> TriviaService:
        """The trivia service of the running app."""
        return self.bot.app.trivia

    async def cog_load(self) -> None:
        """Start the ticker; it resumes stored games once the bot is connected."""
        self._ticker = asyncio.create_task(self._tick_forever(), name="trivia-ticker")

    async def cog_unload(self) -> None:
        """Stop the ticker and remember when the games paused, so they resume with the time they had left."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        with contextlib.suppress(Exception):
            await self.service.suspend()

    async def _tick_forever(self) -> None:
        await self.bot.wait_until_ready()
        try:
            resumed = await self.service.resume()
        except Exception:
            log.exception("could not resume the trivia games")
            resumed = []
        finally:
            self._resumed.set()
        try:
            await self.announce(resumed)
        except Exception:
            log.exception("could not announce the resumed trivia games")
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.announce(await self.service.tick())
            except Exception:
                log.exception("the trivia ticker failed once; it keeps going")

    async def announce(self, announcements: Sequence[Announcement]) -> None:
        """Post announcements as their host, one channel's in order, channels concurrently."""
        by_channel: dict[int, list[Announcement]] = {}
        for announcement in announcements:
            by_channel.setdefault(announcement.channel_id, []).append(announcement)
        if by_channel:
            await asyncio.gather(*(self._post_all(channel, items) for channel, items in by_channel.items()))

    async def _post_all(self, channel_id: int, announcements: list[Announcement]) -> None:
        async with self._order.hold(channel_id):
            try:
                channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            except discord.HTTPException:
                log.warning("trivia channel %s is gone", channel_id)
                return
            for announcement in announcements:
                try:
                    await self.post(channel, announcement)
                except discord.HTTPException:
                    log.warning("could not post to trivia channel %s", channel_id, exc_info=True)

    async def post(self, channel: object, announcement: Announcement) -> None:
        """Post one announcement: a question with choices carries its buttons."""
        persona = PERSONAS.get(announcement.host) or PERSONAS["t800"]
        if announcement.choices and isinstance(channel, discord.abc.Messageable):
            await channel.send(
                embed=persona_embed(persona, announcement.text),
                view=choice_view(announcement),
                allowed_mentions=NO_MENTIONS,
            )
        elif isinstance(channel, discord.abc.Messageable):
            await self.bot.poster.post(channel, persona, announcement.text)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """In a channel with an open-answer game, every message from a person is an answer."""
        if message.author.bot or message.webhook_id is not None or message.guild is None or not message.content:
            return
        await self._resumed.wait()  # after a restart, the events Discord replays come before the games are loaded
        if not self.service.is_playing(message.channel.id):
            return
        await self.bot.track(self._answer(message))

    async def _answer(self, message: discord.Message) -> None:
        name = getattr(message.author, "display_name", message.author.name)
        try:
            said = await self.service.answer(message.channel.id, user_key(message.author), name, message.content)
        except Exception:
            log.exception("could not judge an answer in channel %s", message.channel.id)
            return
        await self.announce(said)
