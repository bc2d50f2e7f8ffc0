"""Playing: answers read from channel messages, the ticker that moves games along, posting as the host.

What the host says about a stored change comes stored with it in the outbox, under its ``outbox_key``. The key is
claimed as soon as the service returns the announcement, then it is posted (a question with choices as the bot,
with its buttons and the key as nonce; the rest through the persona poster) and settled. One channel's
announcements go out in order: what the outbox still holds for the channel from before (a post Discord refused, or
one a stop cut off) is posted first, and while that fails the new ones wait in the outbox behind it; the outbox's
loop posts them later, through ``_post_leftover``. A question asked again after a restart is not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import discord
from discord.ext import commands

from bot.discord.client import CompanionBot
from bot.discord.cogs.chat.listener import user_key
from bot.discord.cogs.trivia.buttons import choice_view
from bot.discord.log_context import bind_channel, bind_message
from bot.discord.outbox import Progress
from bot.discord.personas_out import NO_MENTIONS, PostTarget, persona_embed
from bot.keyed import KeyedLocks
from bot.trivia.options import Announcement
from bot.trivia.outbox import KIND, from_stored
from bot.trivia.service import TriviaService
from db.outbox import OutboxEntry
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
        """Say how announcements left in the outbox are posted, and start the ticker (it resumes stored games once
        the bot is connected)."""
        self.bot.outbox.register(KIND, self._post_leftover)
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

    @contextlib.contextmanager
    def claim(self, announcements: Sequence[Announcement]) -> Iterator[list[Announcement]]:
        """Hold the outbox keys of announcements the service has just returned, before anything is awaited, so the
        outbox's loop leaves them to this handler until it has posted them; yields those it is to post."""
        outbox = self.bot.outbox
        with contextlib.ExitStack() as held:
            yield [a for a in announcements if a.outbox_key is None or held.enter_context(outbox.claim(a.outbox_key))]

    async def announce(self, announcements: Sequence[Announcement]) -> None:
        """Post announcements the service has just returned, as their host; see ``publish``."""
        with self.claim(announcements) as mine:
            await self.publish(mine)

    async def publish(self, announcements: Sequence[Announcement]) -> None:
        """Post claimed announcements as their host, one channel's in order, channels concurrently."""
        by_channel: dict[int, list[Announcement]] = {}
        for announcement in announcements:
            by_channel.setdefault(announcement.channel_id, []).append(announcement)
        if by_channel:
            await asyncio.gather(*(self._post_all(channel, items) for channel, items in by_channel.items()))

    async def behind(self, channel_id: int, announcements: Sequence[Announcement]) -> bool:
        """Whether the outbox holds other announcements for the channel that wait to go out (earlier ones, which go
        out first); one being posted or settled by this process is not waiting."""
        keys = {a.outbox_key for a in announcements}
        outbox = self.bot.outbox
        busy = outbox.busy_keys()
        waiting = await outbox.waiting_in(channel_id, KIND)
        return any(entry.key not in keys and entry.key not in busy for entry in waiting)

    async def _post_all(self, channel_id: int, announcements: list[Announcement]) -> None:
        """Post one channel's announcements after what the outbox still holds for it from earlier.

        A stored announcement no longer waiting went out already (with the earlier ones of another handler). When
        Discord refuses a post, the stored ones after it wait in the outbox, whose loop posts them in order.
        """
        bind_channel(self.bot, channel_id)  # each channel's posts run in a task of their own (``publish``)
        async with self._order.hold(channel_id):
            channel = await self._channel(channel_id)
            if channel is None:
                log.warning("trivia channel %s is gone", channel_id)
                return
            outbox = self.bot.outbox
            busy = outbox.busy_keys()
            waiting = await outbox.waiting_in(channel_id, KIND)
            stored = {entry.key for entry in waiting}
            mine = {a.outbox_key for a in announcements if a.outbox_key is not None}
            to_post = [a for a in announcements if a.outbox_key is None or a.outbox_key in stored]
            if not to_post:
                return
            first = next((entry.id for entry in waiting if entry.key in mine), None)
            earlier = [
                entry
                for entry in waiting
                if entry.key not in mine and (first is None or entry.id < first) and entry.key not in busy
            ]  # one this process is posting or settling (a command's answer, say) is not waiting
            in_order = await self._catch_up(channel, earlier)
            for announcement in to_post:
                key = announcement.outbox_key
                if key is None:
                    try:
                        await self.post(channel, announcement)
                    except (discord.HTTPException, TimeoutError):
                        log.warning("could not post to trivia channel %s", channel_id, exc_info=True)
                elif in_order:
                    in_order = await outbox.send_now(key, partial(self.post, channel, announcement))

    async def _catch_up(self, channel: PostTarget, entries: Sequence[OutboxEntry]) -> bool:
        """Post (and settle) a channel's earlier announcements still waiting; False when one could not go out now
        (Discord refused it, or the outbox's loop is posting it)."""
        outbox = self.bot.outbox
        for entry in entries:
            with outbox.claim(entry.key) as mine:
                if not mine or not await outbox.send_now(entry.key, partial(self._post_stored, channel, entry)):
                    return False
        return True

    async def _post_leftover(self, channel: PostTarget, entry: OutboxEntry, progress: Progress) -> None:
        """The outbox's loop posting an announcement left waiting: in its channel's order, unless it went out."""
        async with self._order.hold(entry.channel_id):
            if any(waiting.key == entry.key for waiting in await self.bot.outbox.waiting_in(entry.channel_id, KIND)):
                await self._post_stored(channel, entry, progress)

    async def _post_stored(self, channel: PostTarget, entry: OutboxEntry, progress: Progress | None = None) -> None:
        """Post an announcement from the outbox: a question with choices as the bot with its nonce (Discord answers
        a repeat with the message it has); anything else after a look at what the channel shows of it already."""
        announcement = from_stored(entry.key, entry.channel_id, entry.persona, entry.text, entry.payload or {})
        if announcement.choices:
            await self.post(channel, announcement)
        else:
            persona = PERSONAS.get(announcement.host) or PERSONAS["t800"]
            await self.bot.outbox.post_persona_leftover(channel, entry, persona, progress or _no_progress)

    async def post(self, channel: PostTarget, announcement: Announcement) -> None:
        """Post one announcement: a question with choices carries its buttons; a stored one its key as nonce."""
        persona = PERSONAS.get(announcement.host) or PERSONAS["t800"]
        key = announcement.outbox_key
        if announcement.choices:
            extra: dict[str, Any] = {"nonce": f"{key}.0"} if key is not None else {}
            await channel.send(
                embed=persona_embed(persona, announcement.text),
                view=choice_view(announcement),
                allowed_mentions=NO_MENTIONS,
                **extra,
            )
        else:
            await self.bot.poster.post(channel, persona, announcement.text, nonce=key)

    async def _channel(self, channel_id: int) -> PostTarget | None:
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        except discord.HTTPException:
            return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """In a channel with an open-answer game, every message from a person is an answer."""
        if message.author.bot or message.webhook_id is not None or message.guild is None or not message.content:
            return
        bind_message(self.bot, message)
        await self._resumed.wait()  # after a restart, the events Discord replays come before the games are loaded
        if not self.service.is_playing(message.channel.id):
            return
        await self.bot.track(self._answer(message))

    async def _answer(self, message: discord.Message) -> None:
        name = getattr(message.author, "display_name", message.author.name)
        try:
            said = await self.service.answer(message.channel.id, user_key(message.author), name, message.content)
        except Exception as exc:
            await self._tell_fault(message, exc)
            return
        await self.announce(said)

    async def _tell_fault(self, message: discord.Message, exc: Exception) -> None:
        """An answer that could not be stored: the host says so to the player, in the channel, with a reference."""
        host = PERSONAS.get(self.service.host_in(message.channel.id) or "t800") or PERSONAS["t800"]
        what = f"judging an answer in trivia channel {message.channel.id}"
        fault = self.bot.fault(exc, host, what=what, logger=log)
        with contextlib.suppress(discord.HTTPException, TimeoutError, OSError):
            await message.channel.send(
                embed=persona_embed(host, fault.text),
                reference=message.to_reference(fail_if_not_exists=False),
                mention_author=False,
                allowed_mentions=NO_MENTIONS,
            )


async def _no_progress(parts_sent: int) -> None:
    """Announcements are short; a half-posted one is found in the channel's history instead."""
