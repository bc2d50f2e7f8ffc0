"""Plain chat: mentions, replies to a persona, auto-chat channels and DMs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

import discord
from discord.ext import commands

from bot.discord.client import CompanionBot
from bot.discord.log_context import bind_message
from bot.discord.personas_out import NO_MENTIONS, persona_embed
from bot.discord.streaming import StreamedPost
from bot.ordering import InOrder, Ticket
from db.chat import DuplicateMessageError
from db.outbox import reply_key
from personas.roster import PERSONAS, find_persona
from personas.understanding.address import split_addressee

__all__ = ["ChatListener", "scope_of", "user_key"]

log = logging.getLogger(__name__)

SLOW_DOWN = "\N{HOURGLASS WITH FLOWING SAND}"
TYPING_AFTER_S = 0.3
"""Turns usually take a millisecond; "typing" is shown only for one that takes longer than this."""
SEEN_IDS = 20_000


def user_key(user: discord.abc.User) -> str:
    """The stored id of a Discord user."""
    return f"discord:{user.id}"


def scope_of(channel: discord.abc.Messageable | discord.abc.GuildChannel | discord.Thread | None) -> str:
    """Where a conversation happens: a DM or a guild channel (threads count as their own channel)."""
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return f"dm:{channel.id}"
    return f"channel:{getattr(channel, 'id', 0)}"


@contextlib.asynccontextmanager
async def typing_if_slow(channel: discord.abc.Messageable) -> AsyncIterator[Callable[[], None]]:
    """Show "typing" in ``channel`` only when the block takes longer than TYPING_AFTER_S; the block may stop it sooner
    by calling what this yields (once the first part of a streaming reply is posted)."""
    typing: list[asyncio.Task[None]] = []

    async def show() -> None:
        async with channel.typing():
            await asyncio.Event().wait()

    timer = asyncio.get_running_loop().call_later(TYPING_AFTER_S, lambda: typing.append(asyncio.create_task(show())))

    def stop() -> None:
        timer.cancel()
        for task in typing:
            task.cancel()

    try:
        yield stop
    finally:
        stop()
        for task in typing:
            with contextlib.suppress(asyncio.CancelledError, discord.HTTPException):
                await task


class ChatListener(commands.Cog):
    """Answers messages addressed to the bot, as the right persona."""

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._order = InOrder()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Decide whether a message is for us and, if so, answer it once."""
        if message.author.bot or message.webhook_id is not None or not self.bot.accepting:
            return
        bind_message(self.bot, message)
        ticket = self._order.ticket(message.channel.id)  # before any await: replies keep the order of messages
        text, persona = "", None
        try:
            route = await self._route(message)
            if route is None or not self._first_time(message.id):
                return
            text, persona = route
            await self.bot.track(self._answer(message, text, persona, ticket))
        except Exception as exc:  # told by whoever the message spoke to, as they would have answered
            named, _ = split_addressee(text, persona)
            speaker = PERSONAS.get(named or persona or "") or self.bot.voice_for(message.author)
            what = f"answering message {message.id} in channel {message.channel.id}"
            fault = self.bot.fault(exc, speaker, what=what, logger=log)
            with contextlib.suppress(discord.HTTPException, TimeoutError, OSError):
                await ticket.wait()
                await message.channel.send(
                    embed=persona_embed(speaker, fault.text),
                    reference=message.to_reference(fail_if_not_exists=False),
                    mention_author=False,
                    allowed_mentions=NO_MENTIONS,
                )
        finally:
            ticket.release()

    async def _route(self, message: discord.Message) -> tuple[str, str | None] | None:
        """The text to answer and the persona to answer as (None: the user's default), or None to stay quiet."""
        me = self.bot.user
        assert me is not None
        content = message.content or ""
        if message.guild is None:
            return content, None
        replied = await self._replied_persona(message)
        if replied is not None:
            return _strip_mention(content, me.id), replied
        if me in message.mentions:
            return _strip_mention(content, me.id), None
        if self.bot.app.trivia.is_playing(message.channel.id):
            return None  # an answer to the trivia question running here
        info = await self.bot.channels.get(message.channel.id)
        if info.auto_persona is not None and content:
            return content, info.auto_persona
        return None

    async def _replied_persona(self, message: discord.Message) -> str | None:
        reference = message.reference
        resolved = reference.resolved if reference is not None else None
        if not isinstance(resolved, discord.Message):
            return None
        me = self.bot.user
        ours = resolved.webhook_id is not None or (me is not None and resolved.author.id == me.id)
        if not ours:
            return None
        name = resolved.author.name
        if resolved.embeds and resolved.embeds[0].author and resolved.embeds[0].author.name:
            name = resolved.embeds[0].author.name
        persona = find_persona(name)
        if persona is None and (cards := self.bot.app.chat.cards) is not None:  # one of this server's card characters
            character = (await cards.for_guild(message.guild.id if message.guild else None)).character(name)
            return character.persona.id if character is not None else None
        return persona.id if persona is not None else None

    def _first_time(self, message_id: int) -> bool:
        """True the first time a message id is seen by this process (gateway replays come again)."""
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return True

    async def _answer(self, message: discord.Message, text: str, persona: str | None, ticket: Ticket) -> None:
        author = message.author
        if not self.bot.user_limits.take(author.id):
            if self.bot.user_limits.should_warn(author.id):
                with contextlib.suppress(discord.HTTPException):
                    await message.add_reaction(SLOW_DOWN)
            return
        scope, at_scene = scope_of(message.channel), None
        story = await self.bot.app.story.chat_context(scope, text, persona, user_key(author))
        if story is not None:  # a story session here: spoiler-safe, and never as a persona a player plays
            if story.notice is not None:
                await ticket.wait()
                await message.channel.send(story.notice, allowed_mentions=NO_MENTIONS)
                return
            text, persona, at_scene = story.text, story.persona, story.at_scene
        key = reply_key(message.id)
        with self.bot.outbox.claim(key) as mine:
            if not mine:
                return
            reply, stream = None, None
            try:
                async with typing_if_slow(message.channel) as stop_typing:
                    stream = StreamedPost(
                        self.bot.poster, message.channel, before_first=ticket.wait, on_first=stop_typing
                    )
                    reply = await self.bot.app.chat.reply(
                        user_key(author),
                        scope,
                        text,
                        persona=persona,
                        discord_message_id=message.id,
                        at_scene=at_scene,
                        reply_channel_id=message.channel.id,
                        guild_id=message.guild.id if message.guild else None,
                        stream=stream,
                    )
            except DuplicateMessageError:
                pass  # a replayed event: its reply is stored, and may not have been posted yet
            finally:
                if reply is None and stream is not None:
                    await stream.discard()  # shown while it streamed, but this turn's reply is not posted
            if reply is None or stream is None:
                log.info("message %s came again", message.id)
            else:
                await ticket.wait()  # the replies to earlier messages in this channel go first
                answered, shown = reply, stream
                await self.bot.outbox.send_now(key, lambda: shown.finish(answered.persona, answered.text, nonce=key))
                return
        await self.bot.outbox.send_waiting(key)


def _strip_mention(content: str, bot_id: int) -> str:
    return re.sub(rf"^\s*<@!?{bot_id}>[\s,:]*", "", content).strip()
