"""Sending what the outbox holds: every stored post goes out once, also after a stop, and never twice.

A post (a chat reply, a story post) is stored in the outbox in the transaction of the change that caused it. The
handler that made the change posts it at once; its removal from the outbox (settling it) is then committed in the
background, several posts per transaction, so a reply's handler (and the next reply in its channel) never waits for
a commit after Discord has taken the post. Whatever is left (the process stopped in between, or Discord failed) is
posted by a loop that runs at start and then every ``OUTBOX_POLL_S``.
Posts made as the bot carry the post's key as a nonce, which Discord enforces, so a retry returns the message that
already went out. Before a persona's leftover post goes out through a webhook (which takes no nonce), the channel's
messages since it was written are read, so that parts Discord had already accepted are not posted again. A post
older than ``OUTBOX_MAX_AGE_S`` is given up and logged. With shards, a process posts only the leftovers of the guilds
it runs: those of another guild are its process's, which posts them when it starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime

import discord
from cachetools import LRUCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.discord.log_context import channel_context
from bot.discord.personas_out import PersonaPoster, PostTarget
from bot.discord.streaming import shown_message
from bot.splitting import split_message
from db.batching import Batcher
from db.chat import ConversationRepository
from db.common import StorageError
from db.outbox import OutboxEntry, OutboxRepository, replied_message_id
from personas.persona import Persona

__all__ = ["OutboxSender", "Progress", "Renderer"]

log = logging.getLogger(__name__)

BATCH = 50
"""How many waiting posts one pass reads."""
SETTLE_AFTER_S = 0.1
"""How long the removal of a post Discord has taken waits for others to share its transaction. A post whose removal
is not committed when the process dies is found in its channel (or answered by its nonce) at the next start."""
GRACE_S = 2.0
"""A post younger than this is left to the handler that stored it."""
CHANNEL_GUILDS = 4096
"""How many channels' guilds are remembered, to tell whose leftovers a process posts."""
REPEAT_WINDOW_S = 120.0
"""How far before a post was written the channel and the stored replies are both read for it: an identical reply
stored earlier may have been posted after it (posts wait their turn in a busy channel), so both are counted over
the same span."""
HISTORY_LIMIT = 200
"""How many of a channel's messages since a post was written are read to see what of it went out."""
_TRANSIENT = (discord.HTTPException, OSError, TimeoutError)

Progress = Callable[[int], Awaitable[None]]
"""Told how many parts of a post in several Discord has accepted so far."""
Renderer = Callable[[PostTarget, OutboxEntry, Progress], Awaitable[None]]
"""Posts a leftover of one kind in its channel (from ``entry.parts_sent`` on)."""


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
        owns: Callable[[int | None], bool] | None = None,
    ) -> None:
        """``owns`` tells the guilds (None: direct messages) whose leftovers this process posts; all by default."""
        self._client = client
        self._owns = owns
        self._guild_of: LRUCache[int, int | None] = LRUCache(maxsize=CHANNEL_GUILDS)
        self._poster = poster
        self._sessions = sessions
        self._write_lock = write_lock
        self._personas = personas
        self._poll_s = poll_s
        self._max_age_s = max_age_s
        self._renderers: dict[str, Renderer] = {"chat": self._render_persona_post}
        self._in_flight: set[str] = set()
        """The keys of the posts this process is posting now."""
        self._settling: set[str] = set()
        """The keys of posts Discord has taken, until their removal from the outbox is committed."""
        self._settled: Batcher[str, None] = Batcher(self._settle_batch, name="outbox-settler", linger_s=SETTLE_AFTER_S)

    def register(self, kind: str, renderer: Renderer) -> None:
        """Say how leftovers of ``kind`` are posted (each front-end feature registers its own)."""
        self._renderers[kind] = renderer

    # ----------------------------------------------------------------------------------------- the usual path
    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Hold ``key`` for the handler that is storing and posting it, from before the change is stored until
        the post is out (``send_now`` keeps it busy from there until it is settled), so the leftover loop leaves it
        alone however long the post waits its turn. Yields False when this process already holds it (then the
        caller must not post it)."""
        if key in self._in_flight:
            yield False
            return
        self._in_flight.add(key)
        try:
            yield True
        finally:
            self._in_flight.discard(key)

    async def send_now(self, key: str, send: Callable[[], Awaitable[object]]) -> bool:
        """Post the stored post ``key`` (claimed by the caller) with ``send``; returns as soon as Discord has taken it,
        and its removal from the outbox follows in the background (it is ``busy`` until then). False when it was
        left waiting (Discord failed, or this process is stopping)."""
        try:
            await send()
        except _TRANSIENT as exc:
            log.warning("Discord did not take post %s (%s); it is sent from the outbox", key, exc)
            return False
        except RuntimeError:
            if not self._client.is_closed():
                raise
            log.info("the bot stopped while posting %s; it is sent at the next start", key)
            return False
        self._settle_soon(key)
        return True

    async def send_if_waiting(self, key: str, send: Callable[[], Awaitable[object]]) -> bool:
        """``send_now`` for a post its handler claimed only after storing it, when it may have waited long enough
        for the leftover loop to post it first: posted only if it is still waiting."""
        async with self._sessions() as session:
            if await OutboxRepository(session).by_key(key) is None:
                return False
        return await self.send_now(key, send)

    def _settle_soon(self, key: str) -> None:
        """Have ``key``, which Discord has taken, removed from the outbox with the next batch; busy until then."""
        try:
            settled = self._settled.enqueue(key)
        except StorageError as exc:  # stopping: the leftover loop of the next start finds it went out
            log.info("post %s went out but is settled at the next start (%s)", key, exc)
            return
        self._settling.add(key)
        settled.add_done_callback(lambda done: self._on_settled(key, done))

    def _on_settled(self, key: str, done: asyncio.Future[None]) -> None:
        self._settling.discard(key)
        if not done.cancelled() and (exc := done.exception()) is not None:
            # it went out: the leftover loop sees it in the channel (or Discord answers its nonce) and settles it
            log.warning("post %s went out but could not be settled now (%s)", key, exc)

    def busy_keys(self) -> frozenset[str]:
        """The keys ``busy`` is true of now. Take them before reading the outbox: a post settled while the read
        runs may still be in what it returns, but it was busy when it began."""
        return frozenset(self._in_flight | self._settling)

    def sent_keys(self) -> frozenset[str]:
        """The keys of posts that went out and whose removal from the outbox is not committed yet."""
        return frozenset(self._settling)

    def busy(self, key: str) -> bool:
        """Whether this process is posting ``key`` now, or has posted it and is settling it: still stored, but
        not waiting for anyone."""
        return key in self._in_flight or key in self._settling

    async def send_waiting(self, key: str) -> bool:
        """Post ``key`` now if it is still waiting (a replayed gateway event whose reply is stored)."""
        async with self._sessions() as session:
            entry = await OutboxRepository(session).by_key(key)
        if entry is None:
            return False
        await self._deliver(entry)
        return True

    async def waiting_in(self, channel_id: int, kind: str) -> list[OutboxEntry]:
        """The posts of ``kind`` waiting for a channel, oldest first: what a front end that keeps a channel's posts
        in order must post before the next."""
        async with self._sessions() as session:
            return await OutboxRepository(session).waiting_in(channel_id, kind)

    async def depth(self) -> int:
        """How many posts are waiting (not counting those that went out and are being removed)."""
        async with self._sessions() as session:
            return await OutboxRepository(session).count(self.sent_keys())

    # ------------------------------------------------------------------------------------------- leftovers
    async def run(self) -> None:
        """Post leftovers once connected, then every ``poll_s``; ends when cancelled."""
        await self._client.wait_until_ready()
        while not self._client.is_closed():
            try:
                await self.drain()
            except _TRANSIENT as exc:
                log.warning("could not post waiting posts now (%s); trying again in %.0f s", exc, self._poll_s)
            except Exception:
                log.exception("posting waiting posts failed")
            await asyncio.sleep(self._poll_s)

    async def drain(self) -> int:
        """Post (or give up) the waiting posts older than a moment, oldest first; returns how many were handled."""
        now_ms = int(time.time() * 1000)
        busy = self.busy_keys()
        async with self._sessions() as session:
            entries = await OutboxRepository(session).waiting(BATCH, created_before_ms=now_ms - int(GRACE_S * 1000))
        handled = 0
        for entry in entries:
            if entry.key in busy or self.busy(entry.key) or not await self._runs_channel(entry.channel_id):
                continue
            if now_ms - entry.created_at_ms > self._max_age_s * 1000:
                await self._settle([entry.key])
                log.warning(
                    "gave up a post to channel %s written %.0f s ago (older than %.0f s)",
                    entry.channel_id,
                    (now_ms - entry.created_at_ms) / 1000,
                    self._max_age_s,
                )
            else:
                await self._deliver(entry)
            handled += 1
        return handled

    async def close(self) -> None:
        """Settle what was sent (at once)."""
        await self._settled.close()

    async def _deliver(self, read: OutboxEntry) -> None:
        if self.busy(read.key):
            return
        self._in_flight.add(read.key)
        try:
            # ``read`` was read before it was claimed: meanwhile the handler that stored it may have posted it
            async with self._sessions() as session:
                entry = await OutboxRepository(session).by_key(read.key)
            if entry is None:
                return
            with channel_context(self._client, entry.channel_id):
                channel = await self._channel(entry.channel_id)
                renderer = self._renderers.get(entry.kind)
                if channel is None or renderer is None:
                    why = (
                        "the channel is gone or closed to the bot" if channel is None else f"nothing posts {entry.kind}"
                    )
                    log.warning("gave up a post to channel %s: %s", entry.channel_id, why)
                    await self._settle([entry.key])
                    return

                async def progress(parts_sent: int) -> None:
                    async with self._write_lock, self._sessions.begin() as session:
                        await OutboxRepository(session).progress(entry.id, parts_sent)

                await renderer(channel, entry, progress)
                await self._settle([entry.key])
                log.info("posted a waiting %s post to channel %s", entry.kind, entry.channel_id)
        finally:
            self._in_flight.discard(read.key)

    async def _render_persona_post(self, channel: PostTarget, entry: OutboxEntry, progress: Progress) -> None:
        """A chat reply left waiting. Several people may have asked the same and got the same reply in the channel
        meanwhile: those stored replies that may show in the channel are counted, so that theirs are not taken for
        this one. Identical replies to later messages that are still waiting are not among them: a channel's
        replies go out in the order of the messages they answer, so those went out only if this one did (or not at
        all), and counting them would post this one again."""
        since_ms = entry.created_at_ms - int(REPEAT_WINDOW_S * 1000)
        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC).replace(tzinfo=None)
        async with self._sessions() as session:
            alike = await ConversationRepository(session).replies_like(entry.channel_id, entry.text, since)
            waiting = await OutboxRepository(session).keys_alike(entry, created_since_ms=since_ms)
        answers = replied_message_id(entry.key) or 0
        waiting_later = sum(  # those settling here went out
            1 for key in waiting if key not in self._settling and (replied_message_id(key) or 0) > answers
        )
        persona = self._personas(entry.persona or "")
        if await self._replace_shown(channel, entry, persona, progress):
            return
        others = max(0, alike - 1 - waiting_later)
        await self.post_persona_leftover(channel, entry, persona, progress, others=others, window_s=REPEAT_WINDOW_S)

    async def _replace_shown(
        self, channel: PostTarget, entry: OutboxEntry, persona: Persona, progress: Progress
    ) -> bool:
        """A reply whose model answer was shown while it streamed: the message that showed it is edited to the
        stored reply (again, if that edit went out already). False when no message showed it, or it is gone."""
        shown = shown_message(entry.payload)
        if shown is None:
            return False
        message_id, webhook = shown
        parts = split_message(entry.text)
        if not await self._poster.edit(channel, persona, message_id, parts[0], webhook=webhook):
            return False
        if len(parts) > 1:
            first = max(1, entry.parts_sent)
            await self._poster.post(channel, persona, entry.text, nonce=entry.key, first_part=first, on_part=progress)
        return True

    async def post_persona_leftover(
        self,
        channel: PostTarget,
        entry: OutboxEntry,
        persona: Persona,
        progress: Progress,
        *,
        others: int = 0,
        window_s: float = 1.0,
    ) -> None:
        """Post what of a persona's post the channel does not show yet (see ``parts_out``)."""
        parts = split_message(entry.text)
        out = await self.parts_out(channel, entry.created_at_ms, persona, parts, others=others, window_s=window_s)
        first = max(entry.parts_sent, out)
        if first < len(parts):
            await self._poster.post(channel, persona, entry.text, nonce=entry.key, first_part=first, on_part=progress)

    async def _runs_channel(self, channel_id: int) -> bool:
        """Whether this process runs the guild of ``channel_id`` (a channel that is gone counts as its own: it is
        given up by whoever finds it)."""
        if self._owns is None:
            return True
        if channel_id not in self._guild_of:
            channel = self._client.get_channel(channel_id)
            if channel is None:
                try:
                    channel = await self._client.fetch_channel(channel_id)
                except (discord.NotFound, discord.Forbidden):
                    return True
            guild = getattr(channel, "guild", None)
            self._guild_of[channel_id] = guild.id if guild is not None else None
        return self._owns(self._guild_of[channel_id])

    async def _channel(self, channel_id: int) -> PostTarget | None:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def parts_out(
        self,
        channel: PostTarget,
        since_ms: int,
        persona: Persona,
        parts: Sequence[str],
        *,
        others: int = 0,
        window_s: float = 1.0,
    ) -> int:
        """How many of ``parts`` (from the first) the channel shows as posted by ``persona`` (or the bot) since
        ``since_ms`` (less ``window_s``): what of a leftover went out before the process stopped. A part counts as out
        when it shows more often than ``others``, the identical posts known to have been made for other reasons
        in that time (the same reply to the same question)."""
        since = datetime.fromtimestamp(since_ms / 1000 - window_s, tz=UTC)
        me = self._client.user
        shown: Counter[str] = Counter()
        with contextlib.suppress(discord.Forbidden, discord.NotFound):
            async for message in channel.history(after=since, limit=HISTORY_LIMIT, oldest_first=True):
                by_persona = message.webhook_id is not None and message.author.name == persona.display_name
                if by_persona or (me is not None and message.author.id == me.id):
                    shown[message.embeds[0].description or "" if message.embeds else message.content] += 1
        out = 0
        for part in parts:
            if shown[part] <= others:
                break
            out += 1
        return out

    async def _settle(self, keys: Sequence[str]) -> None:
        async with self._write_lock, self._sessions.begin() as session:
            await OutboxRepository(session).settle(keys)

    async def _settle_batch(self, keys: Sequence[str]) -> list[None]:
        await self._settle(keys)
        return [None] * len(keys)
