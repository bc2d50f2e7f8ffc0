"""Group stories on Discord: /story commands, lobby and decision buttons, and the clock that expires turns."""

from __future__ import annotations

from bot.discord.client import CompanionBot
from bot.discord.cogs.story.buttons import StoryButton
from bot.discord.cogs.story.commands import StoryCog

__all__ = ["setup"]


async def setup(bot: CompanionBot) -> None:
    """Load the story cog and the restart-proof story buttons."""
    await bot.add_cog(StoryCog(bot))
    bot.add_dynamic_items(StoryButton)
