"""Story buttons whose custom ids carry the session, scene and action, so they work after a restart."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import discord

from bot.discord.log_context import bind_interaction
from bot.story import Post, Prompt

__all__ = ["Narration", "StoryButton", "narration_messages", "prompt_view", "story_embeds"]

NARRATOR_COLOUR = 0x8B0000
MAX_EMBEDS = 10
MAX_EMBED_CHARS = 6000
"""Discord's limits for one message: 10 embeds, 6,000 characters of text in them all."""
_STYLES = {"start": discord.ButtonStyle.success, "leave": discord.ButtonStyle.secondary}


class StoryButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"t2:story:(?P<sid>\d+):(?P<scene>\d+):(?P<kind>[a-z]+):(?P<arg>[a-z0-9-]+)",
):
    """A lobby button (join, leave, start) or a decision button (choose, vote, tiebreak)."""

    def __init__(self, session_id: int, scene: int, kind: str, arg: str, label: str = "…") -> None:
        style = _STYLES.get(arg, discord.ButtonStyle.primary)
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label=label[:80], style=style, custom_id=f"t2:story:{session_id}:{scene}:{kind}:{arg}"
        )
        super().__init__(button)
        self.session_id = session_id
        self.scene = scene
        self.kind = kind
        self.arg = arg

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> StoryButton:
        """Rebuild the button from its custom id, also after a restart."""
        return cls(int(match["sid"]), int(match["scene"]), match["kind"], match["arg"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Hand the click to the story cog."""
        bind_interaction(interaction)
        cog = interaction.client.get_cog("StoryCog")  # type: ignore[attr-defined]
        await cog.on_button(interaction, self)


def prompt_view(prompt: Prompt | None) -> discord.ui.View | None:
    """The buttons of a prompt, or None."""
    if prompt is None:
        return None
    view = discord.ui.View(timeout=None)
    for option_id, label in prompt.options:
        view.add_item(StoryButton(prompt.session_id, prompt.scene, prompt.kind, option_id, label))
    return view


def story_embeds(post: Post) -> list[discord.Embed]:
    """A narrator post as embeds (long texts such as an epilogue take several)."""
    text = post.text
    chunks = [text[i : i + 4000] for i in range(0, len(text), 4000)] or [""]
    embeds = []
    for index, chunk in enumerate(chunks):
        embed = discord.Embed(description=chunk, colour=NARRATOR_COLOUR)
        if index == 0 and post.title:
            embed.title = post.title
        embeds.append(embed)
    return embeds


Narration = tuple[list[discord.Embed], Prompt | None]


def _size(embed: discord.Embed) -> int:
    return len(embed.title or "") + len(embed.description or "")


def _fits(embeds: list[discord.Embed]) -> bool:
    return len(embeds) <= MAX_EMBEDS and sum(map(_size, embeds)) <= MAX_EMBED_CHARS


def narration_messages(posts: Sequence[Post]) -> list[Post | Narration]:
    """The posts as messages, in order: a persona's line alone, consecutive narration together in one message.

    Discord lets a bot post 5 messages per 5 seconds in a channel, so a scene's narration, reflections and prompt
    go out as the embeds of as few messages as Discord's size limits allow. A prompt's buttons end its message.
    """
    messages: list[Post | Narration] = []
    embeds: list[discord.Embed] = []
    for post in posts:
        if post.persona is not None:
            if embeds:
                messages.append((embeds, None))
                embeds = []
            messages.append(post)
            continue
        more = story_embeds(post)
        if embeds and not _fits([*embeds, *more]):
            messages.append((embeds, None))
            embeds = []
        for embed in more:  # a text longer than one message holds goes on in the next
            if embeds and not _fits([*embeds, embed]):
                messages.append((embeds, None))
                embeds = []
            embeds = [*embeds, embed]
        if post.prompt is not None:
            messages.append((embeds, post.prompt))
            embeds = []
    if embeds:
        messages.append((embeds, None))
    return messages
