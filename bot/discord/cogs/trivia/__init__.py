"""Trivia on Discord: /trivia commands, answers read from channel messages, restart-proof choice buttons, the ticker."""

from __future__ import annotations

from bot.discord.client import CompanionBot
from bot.discord.cogs.trivia.buttons import ChoiceButton
from bot.discord.cogs.trivia.commands import TriviaCommands
from bot.discord.cogs.trivia.play import TriviaPlay

__all__ = ["setup"]


async def setup(bot: CompanionBot) -> None:
    """Load the trivia cogs and the restart-proof choice buttons."""
    await bot.add_cog(TriviaPlay(bot))
    await bot.add_cog(TriviaCommands(bot))
    bot.add_dynamic_items(ChoiceButton)
