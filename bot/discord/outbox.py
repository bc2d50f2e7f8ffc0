"""Sending what the outbox holds: every stored reply is posted once, also after a stop, and never twice.

A chat reply is stored in the outbox in the transaction of its turn. The turn's handler posts it and then settles
it (removes it). Whatever is left (the process stopped in between, or Discord failed) is posted by a loop that runs
at start and then every ``OUTBOX_POLL_S``. Before posting such a leftover, the channel's messages since it was
written are read, so that parts Discord had already accepted are not posted again; parts posted as the bot also
carry a nonce, which Discord enforces. A post older than ``OUTBOX_MAX_AGE_S`` is given up and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import discord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.discord.personas_out import PersonaPoster, PostTarget
from bot.splitting import split_message
from db.batching import Batcher
from db.chat import OutboxEntry, OutboxRepository
from personas.persona import Persona

__all__ = ["OutboxSender", "reply_nonce"]

log = logging.getLogger(__name__)

BATCH = 50
"""How many waiting posts one pass reads."""
GRACE_S = 2.0
"""A post younger than this is left to the handler that stored it."""
HISTORY_LIMIT = 100
"""How many of a channel's messages since a post was written are read to see what of it went out."""


def reply_nonce(source_message_id: int) -> str:
    """The nonce of the reply to a message (Discord allows 25 characters; a part number is added)."""
    return f"r{source_message_id}"


class OutboxSender:
    """Posts and settles the outbox's posts."""

    def __init__(
        self,
        client: discord.Client,
        poster: PersonaPoster,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        personas: Callable[[str], Persona],
        *,
        poll_s: float,
        max_age_s: float,
    ) -> None:
        self._client = client
        self._poster = poster
        self._sessions = sessions
        self._write_lock = write_lock
        self._personas = personas
        self._poll_s = poll_s
        self._max_age_s = max_age_s
        self._in_flight: set[int] = set()
        """The messages whose replies this process is posting now."""
        self._settled: Batcher[int, None] = Batcher(self._settle_replies, name="outbox-settler")

    # ----------------------------------------------------------------------------------------- the usual path
    async def send_reply(self, channel: PostTarget, persona: Persona, text: str, source_message_id: int) -> None:
        """Post the reply to ``source_message_id`` just stored with its turn, then settle it."""
        if source_message_id in self._in_flight:
            return
        self._in_flight.add(source_message_id)
        try:
            await self._poster.post(channel, persona, text, nonce=reply_nonce(source_message_id))
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            log.warning(
                "Discord did not take the reply to message %s (%s); it is sent from the outbox", source_message_id, exc
            )
            return
        except RuntimeError:
            if not self._client.is_closed():
                raise
            log.info("the bot stopped while posting the reply to message %s; it is sent later", source_message_id)
            return
        finally:
            self._in_flight.discard(source_message_id)
        await self._settled.submit(source_message_id)

    async def send_waiting_reply(self, source_message_id: int) -> bool:
        """A message came again (a replayed gateway event): post its stored reply if it is still waiting."""
        async with self._sessions() as session:
            entry = await OutboxRepository(session).for_message(source_message_id)
        if entry is None:
            return False
        await self._deliver(entry)
        return True

    # ------------------------------------------------------------------------------------------- leftovers
    async def run(self) -> None:
        """Post leftovers once connected, then every ``poll_s``; ends when cancelled."""
        await self._client.wait_until_ready()
        while not self._client.is_closed():
            try:
                await self.drain()
            except (discord.HTTPException, OSError, TimeoutError) as exc:
                log.warning("could not post waiting posts now (%s); trying again in %.0f s", exc, self._poll_s)
            except Exception:
                log.exception("posting waiting posts failed")
            await asyncio.sleep(self._poll_s)

    async def drain(self) -> int:
        """Post (or give up) the waiting posts older than a moment; returns how many were handled."""
        now_ms = int(time.time() * 1000)
        async with self._sessions() as session:
            entries = await OutboxRepository(session).waiting(BATCH, created_before_ms=now_ms - int(GRACE_S * 1000))
        handled = 0
        for entry in entries:
            if entry.source_message_id in self._in_flight:
                continue
            if now_ms - entry.created_at_ms > self._max_age_s * 1000:
                log.warning(
                    "gave up a post to channel %s written %.0f s ago (older than %.0f s)",
                    entry.channel_id,
                    (now_ms - entry.created_at_ms) / 1000,
                    self._max_age_s,
                )
                await self._settle([entry.id])
            else:
                await self._deliver(entry)
            handled += 1
        return handled

    async def close(self) -> None:
        """Settle what was sent."""
        await self._settled.close()

    async def _deliver(self, entry: OutboxEntry) -> None:
        key = entry.source_message_id
        if key is not None:
            if key in self._in_flight:
                return
            self._in_flight.add(key)
        try:
            channel = await self._channel(entry.channel_id)
            if channel is None:
                log.warning("gave up a post to channel %s: the channel is gone or closed to the bot", entry.channel_id)
                await self._settle([entry.id])
                return
            persona = self._personas(entry.persona or "")
            parts = split_message(entry.text)
            first = max(entry.parts_sent, await self._parts_out(channel, entry, persona, parts))

            async def progress(parts_sent: int) -> None:
                async with self._write_lock, self._sessions.begin() as session:
                    await OutboxRepository(session).progress(entry.id, parts_sent)

            if first < len(parts):
                nonce = reply_nonce(key) if key is not None else f"p{entry.id}"
                await self._poster.post(channel, persona, entry.text, nonce=nonce, first_part=first, on_part=progress)
            await self._settle([entry.id])
            log.info(
                "posted a waiting post to channel %s (%d of %d parts were out)", entry.channel_id, first, len(parts)
            )
        finally:
            if key is not None:
                self._in_flight.discard(key)

    async def _channel(self, channel_id: int) -> PostTarget | None:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _parts_out(self, channel: PostTarget, entry: OutboxEntry, persona: Persona, parts: Sequence[str]) -> int:
        """How many of ``parts`` (from the first) the channel already shows as ours since the post was written."""
        since = datetime.fromtimestamp(entry.created_at_ms / 1000 - 1, tz=UTC)
        me = self._client.user
        ours: list[str] = []
        with contextlib.suppress(discord.Forbidden, discord.NotFound):
            async for message in channel.history(after=since, limit=HISTORY_LIMIT, oldest_first=True):
                by_persona = message.webhook_id is not None and message.author.name == persona.display_name
                if by_persona or (me is not None and message.author.id == me.id):
                    ours.append(message.embeds[0].description or "" if message.embeds else message.content)
        out = 0
        for part in parts:
            if part not in ours:
                break
            out += 1
        return out

    async def _settle(self, post_ids: Sequence[int]) -> None:
        async with self._write_lock, self._sessions.begin() as session:
            await OutboxRepository(session).settle(post_ids)

    async def _settle_replies(self, source_message_ids: Sequence[int]) -> list[None]:
        async with self._write_lock, self._sessions.begin() as session:
            await OutboxRepository(session).settle_replies(source_message_ids)
        return [None] * len(source_message_ids)
