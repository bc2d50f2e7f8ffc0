"""A persona's reply shown in its channel while the model streams it: the first part is posted once it is long enough
to be worth it, then the message is edited with more at most once every ``EDIT_EVERY_S``, and in the end edited to the
reply the chat service returns (the guarded model reply, or the offline one when the model's was refused). What may be
shown is decided in ``bot.llm.streaming``; this only paces it into Discord."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.discord.personas_out import PersonaPoster, PostTarget
from bot.splitting import split_message
from personas.persona import Persona

__all__ = ["EDIT_EVERY_S", "FIRST_PART_CHARS", "StreamedPost", "shown_message"]

log = logging.getLogger(__name__)

FIRST_PART_CHARS = 120
"""A reply is posted before it is complete only once this much of it may be shown: a shorter one is posted whole."""
EDIT_EVERY_S = 1.2
"""The least time between two edits of one message (Discord allows 5 edits per 5 seconds in a channel)."""
_TRANSIENT = (discord.HTTPException, OSError, TimeoutError)


def shown_message(payload: dict[str, Any] | None) -> tuple[int, bool] | None:
    """The message (id, posted through a webhook) that showed a stored reply while it streamed, if one did."""
    if not payload or not isinstance(payload.get("shown"), int):
        return None
    return payload["shown"], bool(payload.get("webhook"))


class StreamedPost:
    """One reply's message in ``channel`` (a ``bot.chat.ReplyStream``). ``before_first`` is awaited before the first
    part is posted (the replies to earlier messages go first), ``on_first`` is called once it is (typing stops)."""

    def __init__(
        self,
        poster: PersonaPoster,
        channel: PostTarget,
        *,
        before_first: Callable[[], Awaitable[None]],
        on_first: Callable[[], None],
        first_part_chars: int = FIRST_PART_CHARS,
        edit_every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._poster = poster
        self._channel = channel
        self._before_first = before_first
        self._on_first = on_first
        self._first_part_chars = first_part_chars
        self._edit_every_s = EDIT_EVERY_S if edit_every_s is None else edit_every_s
        self._clock = clock
        self._latest: tuple[Persona, str] | None = None
        self._shown = ""
        self._message: discord.Message | None = None
        self._last_edit = 0.0
        self._more = asyncio.Event()
        self._held = False
        self._sending = False
        self._task: asyncio.Task[None] | None = None

    @property
    def message(self) -> discord.Message | None:
        """The message that shows the reply, once posted."""
        return self._message

    async def show(self, persona: Persona, text: str) -> None:
        """More of the reply may be shown; it is, at the pace of the channel's edits (this never waits)."""
        if self._held:
            return
        self._latest = (persona, text)
        if self._task is None:
            if len(text) < self._first_part_chars:
                return
            self._task = asyncio.create_task(self._follow(), name=f"stream-{getattr(self._channel, 'id', 0)}")
        self._more.set()

    async def hold(self) -> dict[str, Any] | None:
        """Show nothing more (an edit under way is let finish); the payload that names the message shown, if any."""
        self._held = True
        self._more.set()
        task = self._task
        if task is not None:
            if not self._sending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._message is None:
            return None
        return {"shown": self._message.id, "webhook": self._message.webhook_id is not None}

    async def finish(self, persona: Persona, text: str, *, nonce: str | None = None) -> None:
        """Show the reply as it stands: the message shown so far is edited to it (after the pause edits keep), or,
        when none was posted, the reply is posted as usual."""
        await self.hold()
        message = self._message
        parts = split_message(text)
        if message is not None:
            if parts[0] != self._shown:
                await asyncio.sleep(max(0.0, self._last_edit + self._edit_every_s - self._clock()))
                webhook = message.webhook_id is not None
                if not await self._poster.edit(self._channel, persona, message.id, parts[0], webhook=webhook):
                    message = None  # deleted meanwhile: the reply is posted instead
            if message is not None:
                self._shown = parts[0]
                if len(parts) > 1:
                    await self._poster.post(self._channel, persona, text, nonce=nonce, first_part=1)
                return
        await self._poster.post(self._channel, persona, text, nonce=nonce)

    async def discard(self) -> None:
        """The reply is not going to be posted (the turn failed, or was answered already): remove what was shown."""
        await self.hold()
        if self._message is not None:
            with contextlib.suppress(*_TRANSIENT):
                await self._message.delete()
            self._message = None

    async def _follow(self) -> None:
        try:
            await self._before_first()
            if not self._held:
                await self._send(first=True)
            while not self._held:
                await self._more.wait()
                self._more.clear()
                await asyncio.sleep(max(0.0, self._last_edit + self._edit_every_s - self._clock()))
                if not self._held:
                    await self._send(first=False)
        except _TRANSIENT as exc:  # nothing more is shown; the reply is still posted or edited in the end
            log.info("could not show a streaming reply in channel %s (%s)", getattr(self._channel, "id", 0), exc)

    async def _send(self, *, first: bool) -> None:
        assert self._latest is not None
        persona, text = self._latest
        if text == self._shown:
            return
        self._sending = True
        try:
            if first:
                self._message = (await self._poster.post(self._channel, persona, text))[0]
                self._on_first()
            else:
                assert self._message is not None
                webhook = self._message.webhook_id is not None
                if not await self._poster.edit(self._channel, persona, self._message.id, text, webhook=webhook):
                    self._message, self._held = None, True  # deleted meanwhile: the reply is posted in the end
                    return
        finally:
            self._sending = False
        self._shown = text
        self._last_edit = self._clock()
