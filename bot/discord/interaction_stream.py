"""A slash command's reply shown while the model streams it: the command's public "thinking..." response
(``defer_answer``) is edited with the reply so far, at the pace of ``bot.discord.streaming``, and in the end edited
to the reply the chat service returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import discord

from bot.discord.client import THINKING_IN_PUBLIC, send_public
from bot.discord.personas_out import NO_MENTIONS, persona_embed
from bot.discord.streaming import FIRST_PART_CHARS, PacedStream
from bot.splitting import split_message
from personas.persona import Persona

__all__ = ["InteractionStream"]


class InteractionStream(PacedStream):
    """The reply to an interaction that deferred in public, shown in its response while it streams (a
    ``bot.chat.ReplyStream``). Nothing of it is in the outbox: ``finish`` edits the response to the final reply and
    sends the parts past Discord's 2,000 characters as followups."""

    def __init__(
        self,
        interaction: discord.Interaction,
        *,
        first_part_chars: int = FIRST_PART_CHARS,
        edit_every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            where=f"interaction {interaction.id}",
            first_part_chars=first_part_chars,
            edit_every_s=edit_every_s,
            clock=clock,
        )
        self._interaction = interaction
        self._showing = False

    async def show(self, persona: Persona, text: str) -> None:
        """More of the reply may be shown. Only a response this command deferred is edited: not one Discord no
        longer knows, nor the answer to an earlier delivery of the same interaction."""
        if self._interaction.extras.get(THINKING_IN_PUBLIC):
            await super().show(persona, text)

    async def hold(self) -> dict[str, Any] | None:
        """Show nothing more (an edit under way is let finish); None, as an interaction's reply is not in the
        outbox."""
        await self._stop()
        return None

    async def finish(self, persona: Persona, text: str) -> None:
        """Show the reply: the response that showed it so far is edited to it (after the pause edits keep), or,
        when nothing was shown (or the response was deleted meanwhile), it is sent as usual."""
        await self.hold()
        parts = split_message(text)
        if self._showing and parts[0] != self._shown:
            await self._edit_slot()
            await self._edit_shown(persona, parts[0])
        if self._showing:
            self._interaction.extras.pop(THINKING_IN_PUBLIC, None)
            self._shown, parts = parts[0], parts[1:]
        for part in parts:
            await send_public(self._interaction, embed=persona_embed(persona, part))

    async def _show_first(self, persona: Persona, text: str) -> bool:
        return await self._edit_shown(persona, text)

    async def _edit_shown(self, persona: Persona, text: str) -> bool:
        try:
            await self._interaction.edit_original_response(
                embed=persona_embed(persona, text), allowed_mentions=NO_MENTIONS
            )
        except discord.NotFound:  # the response was deleted meanwhile: the reply is sent anew in the end
            self._showing = False
            return False
        self._showing = True
        return True
