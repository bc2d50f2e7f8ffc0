"""Multiple-choice buttons whose custom ids carry the game, the question and the choice, so they survive restarts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord.client import CompanionBot, defer_answer, send_ephemeral, tell_fault
from bot.discord.cogs.chat.listener import user_key
from bot.discord.log_context import bind_interaction
from bot.trivia.options import Announcement
from bot.trivia.questions import CHOICE_LETTERS
from personas.roster import PERSONAS

if TYPE_CHECKING:
    from bot.discord.cogs.trivia.play import TriviaPlay

__all__ = ["ChoiceButton", "choice_view"]

MAX_LABEL = 80


class ChoiceButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"t2:trivia:(?P<game>\d+):(?P<question>\d+):(?P<choice>\d)",
):
    """One answer to a multiple-choice question; anyone may press it, once per question."""

    def __init__(self, game: int, question: int, choice: int, label: str | None = None) -> None:
        letter = CHOICE_LETTERS[choice] if choice < len(CHOICE_LETTERS) else "?"
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label=(f"{letter}: {label}" if label else letter)[:MAX_LABEL],
            style=discord.ButtonStyle.primary,
            custom_id=f"t2:trivia:{game}:{question}:{choice}",
        )
        super().__init__(button)
        self.game = game
        self.question = question
        self.choice = choice

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ChoiceButton:
        """Rebuild the button from its custom id, also after a restart."""
        return cls(int(match["game"]), int(match["question"]), int(match["choice"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Record the player's one answer; tell them privately, and the channel if the question closed."""
        bind_interaction(interaction)
        bot = interaction.client
        assert isinstance(bot, CompanionBot)
        name = getattr(interaction.user, "display_name", interaction.user.name)
        host = PERSONAS.get(bot.app.trivia.host_of(self.game) or "t800")
        await defer_answer(interaction, ephemeral=True)
        try:
            result = await bot.app.trivia.choose(
                self.game, self.question, self.choice, user_key(interaction.user), name
            )
        except Exception as exc:  # nothing of the press is stored: the player may press again
            await tell_fault(interaction, exc, what=f"a choice in trivia game {self.game}", persona=host)
            return
        play = cast("TriviaPlay", bot.get_cog("TriviaPlay"))
        with play.claim(result.announcements) as mine:  # held from now, so only this handler posts them
            await send_ephemeral(interaction, result.text)
            await play.publish(mine)


def choice_view(announcement: Announcement) -> discord.ui.View:
    """The buttons of a multiple-choice question."""
    view = discord.ui.View(timeout=None)
    assert announcement.question is not None
    for index, text in enumerate(announcement.choices):
        view.add_item(ChoiceButton(announcement.game_id, announcement.question, index, text))
    return view
