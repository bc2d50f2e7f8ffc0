"""Chat on Discord: mentions, DMs, replies and auto-chat channels; /talk, /persona, /why, /forget-me, /export."""

from __future__ import annotations

from bot.discord.client import CompanionBot
from bot.discord.cogs.chat.commands import ChatCommands
from bot.discord.cogs.chat.listener import ChatListener
from bot.discord.cogs.chat.privacy import ForgetButton, PrivacyCommands

__all__ = ["setup"]


async def setup(bot: CompanionBot) -> None:
    """Load the chat cogs and the restart-proof confirmation buttons."""
    await bot.add_cog(ChatListener(bot))
    await bot.add_cog(ChatCommands(bot))
    await bot.add_cog(PrivacyCommands(bot))
    bot.add_dynamic_items(ForgetButton)
