"""Who may do what: the permission checks the cogs share."""

from __future__ import annotations

import discord

from bot.discord.client import Refusal

__all__ = ["is_moderator", "require_manage_guild"]


def is_moderator(interaction: discord.Interaction) -> bool:
    """True for someone who may manage messages in this server channel (moderators end or skip others' games)."""
    permissions = interaction.permissions
    return interaction.guild is not None and bool(permissions.manage_messages or permissions.administrator)


def require_manage_guild(interaction: discord.Interaction) -> None:
    """Refuse unless the user may manage this server."""
    if interaction.guild is None:
        raise Refusal("This only works in a server channel.")
    permissions = interaction.permissions
    if not (permissions.manage_guild or permissions.administrator):
        raise Refusal("You need the Manage Server permission for that.")
