"""A persona's reply shown while the model streams it: the first part is shown once it is long enough to be worth
it, then edited with more at most once every ``EDIT_EVERY_S``, and in the end edited to the reply the chat service
returns (the guarded model reply, or the offline one when the model's was refused). In a channel that is a message
the persona posts (``StreamedPost``); for ``/talk`` it is the command's deferred response
(``bot.discord.interaction_stream``). What may be shown is decided in ``bot.llm.streaming``; this only paces it into
Discord."""

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

__all__ = ["EDIT_EVERY_S", "FIRST_PART_CHARS", "PacedStream", "StreamedPost", "shown_message"]

log = logging.getLogger(__name__)

FIRST_PART_CHARS = 120
"""A reply is shown before it is complete only once this much of it may be shown: a shorter one is shown whole."""
EDIT_EVERY_S = 1.2
"""The least time between two edits of one message (Discord allows 5 edits per 5 seconds in a channel)."""
_TRANSIENT = (discord.HTTPException, OSError, TimeoutError)


def shown_message(payload: dict[str, Any] | None) -> tuple[int, bool] | None:
    """The message (id, posted through a webhook) that showed a stored reply while it streamed, if one did."""
    if not payload or not isinstance(payload.get("shown"), int):
        return None
    return payload["shown"], bool(payload.get("webhook"))


class PacedStream:
    """The pacing every streamed reply shares: ``_show_first`` once ``first_part_chars`` may be shown, then
    ``_edit_shown`` with the reply so far at most once every ``edit_every_s``, in a task of its own so that the model's
    stream never waits for Discord. Subclasses say where the reply shows."""

    def __init__(
        self,
        *,
        where: str,
        first_part_chars: int = FIRST_PART_CHARS,
        edit_every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._where = where
        self._first_part_chars = first_part_chars
        self._edit_every_s = EDIT_EVERY_S if edit_every_s is None else edit_every_s
        self._clock = clock
        self._latest: tuple[Persona, str] | None = None
        self._shown = ""
        self._last_edit = 0.0
        self._more = asyncio.Event()
        self._held = False
        self._sending = False
        self._task: asyncio.Task[None] | None = None

    async def show(self, persona: Persona, text: str) -> None:
        """More of the reply may be shown; it is, at the pace of the edits (this never waits)."""
        if self._held:
            return
        self._latest = (persona, text)
        if self._task is None:
            if len(text) < self._first_part_chars:
                return
            self._task = asyncio.create_task(self._follow(), name=f"stream-{self._where}")
        self._more.set()

    async def _stop(self) -> None:
        """Show nothing more (an edit under way is let finish)."""
        self._held = True
        self._more.set()
        task = self._task
        if task is not None:
            if not self._sending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _edit_slot(self) -> None:
        """Wait until the shown reply may be edited again."""
        await asyncio.sleep(max(0.0, self._last_edit + self._edit_every_s - self._clock()))

    async def _before_first(self) -> None:
        """Awaited before the first part is shown."""

    async def _show_first(self, persona: Persona, text: str) -> bool:
        """Show the first part of the reply; False when it cannot be shown (and nothing more is)."""
        raise NotImplementedError

    async def _edit_shown(self, persona: Persona, text: str) -> bool:
        """Edit what shows the reply to ``text``; False when it is gone (deleted meanwhile)."""
        raise NotImplementedError

    async def _follow(self) -> None:
        try:
            await self._before_first()
            if not self._held:
                await self._send(first=True)
            while not self._held:
                await self._more.wait()
                self._more.clear()
                await self._edit_slot()
                if not self._held:
                    await self._send(first=False)
        except _TRANSIENT as exc:  # nothing more is shown; the reply is still posted or edited in the end
            log.info("could not show a streaming reply in %s (%s)", self._where, exc)

    async def _send(self, *, first: bool) -> None:
        assert self._latest is not None
        persona, text = self._latest
        if text == self._shown:
            return
        self._sending = True
        try:
            shown = await (self._show_first(persona, text) if first else self._edit_shown(persona, text))
            if not shown:
                self._held = True  # deleted meanwhile: the reply is posted in the end
                return
        finally:
            self._sending = False
        self._shown = text
        self._last_edit = self._clock()


class StreamedPost(PacedStream):
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
        super().__init__(
            where=f"channel {getattr(channel, 'id', 0)}",
            first_part_chars=first_part_chars,
            edit_every_s=edit_every_s,
            clock=clock,
        )
        self._poster = poster
        self._channel = channel
        self._wait_first = before_first
        self._on_first = on_first
        self._message: discord.Message | None = None

    @property
    def message(self) -> discord.Message | None:
        """The message that shows the reply, once posted."""
        return self._message

    async def hold(self) -> dict[str, Any] | None:
        """Show nothing more (an edit under way is let finish); the payload that names the message shown, if any."""
        await self._stop()
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
                await self._edit_slot()
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

    async def _before_first(self) -> None:
        await self._wait_first()

    async def _show_first(self, persona: Persona, text: str) -> bool:
        self._message = (await self._poster.post(self._channel, persona, text))[0]
        self._on_first()
        return True

    async def _edit_shown(self, persona: Persona, text: str) -> bool:
        assert self._message is not None
        webhook = self._message.webhook_id is not None
        if not await self._poster.edit(self._channel, persona, self._message.id, text, webhook=webhook):
            self._message = None
            return False
        return True
