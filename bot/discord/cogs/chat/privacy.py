"""Your data: /forget-me (with a confirmation button that survives restarts) and /export."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import CompanionBot, send_ephemeral
from bot.discord.cogs.chat.listener import user_key
from bot.discord.log_context import bind_interaction
from bot.discord.personas_out import NO_MENTIONS

__all__ = ["ForgetButton", "PrivacyCommands"]

log = logging.getLogger(__name__)


class ForgetButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"t2:forget:(?P<action>yes|no):(?P<user>\d+)"
):
    """Confirm or cancel deleting a user's data; the custom id carries who may press it."""

    def __init__(self, action: str, user_id: int) -> None:
        confirm = action == "yes"
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label="Delete my data" if confirm else "Cancel",
            style=discord.ButtonStyle.danger if confirm else discord.ButtonStyle.secondary,
            custom_id=f"t2:forget:{action}:{user_id}",
        )
        super().__init__(button)
        self.action = action
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ForgetButton:
        """Rebuild the button from its custom id, also after a restart."""
        return cls(match["action"], int(match["user"]))

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Only the user the button was made for may press it."""
        bind_interaction(interaction)  # the check and the callback run in one task
        if interaction.user.id != self.user_id:
            await send_ephemeral(interaction, "This button is not for you.")
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        """Delete everything about the user, or cancel."""
        if self.action == "no":
            await interaction.response.edit_message(content="Nothing was deleted.", view=None)
            return
        bot = interaction.client
        assert isinstance(bot, CompanionBot)
        user = user_key(interaction.user)
        await interaction.response.defer()  # storing the request may take a while; the message is edited below
        try:
            await bot.app.request_forget(user)  # stored first: a stop from here on still finishes it at next start
        except Exception as exc:
            what = "storing a request to delete a user's data"
            ref = bot.fault(exc, bot.voice_for(interaction.user), what=what, logger=log).ref
            await interaction.edit_original_response(
                content=f"I could not start deleting your data; nothing was deleted. Please try again. (ref {ref})",
                view=None,
            )
            return
        await interaction.edit_original_response(content="Deleting everything stored about you...", view=None)
        try:
            removed = await bot.app.forget_user(user)
        except Exception as exc:
            what = "deleting a user's data (retried at the next start)"
            ref = bot.fault(exc, bot.voice_for(interaction.user), what=what, logger=log).ref
            await interaction.edit_original_response(
                content="Deleting hit a problem, so nothing was deleted yet. It is retried when the bot restarts, "
                f"or press /forget-me again. (ref {ref})"
            )
            return
        log.info("deleted the data of a user on request (%d rows)", removed)
        await interaction.edit_original_response(
            content=f"Done. I deleted everything stored about you ({removed} records)."
        )


def confirm_view(user_id: int) -> discord.ui.View:
    """The two confirmation buttons."""
    view = discord.ui.View(timeout=None)
    view.add_item(ForgetButton("yes", user_id))
    view.add_item(ForgetButton("no", user_id))
    return view


class PrivacyCommands(commands.Cog):
    """/forget-me and /export."""

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot

    @app_commands.command(name="forget-me", description="Delete everything this bot stores about you")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        """Ask for confirmation before deleting."""
        await interaction.response.send_message(
            "This deletes your conversations, messages, memory and settings everywhere this bot runs. Sure?",
            view=confirm_view(interaction.user.id),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="export", description="Get everything this bot stores about you, as JSON")
    async def export(self, interaction: discord.Interaction) -> None:
        """Send the user's data as an ephemeral JSON attachment."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.bot.app.export_user(user_key(interaction.user))
        payload = json.dumps(data, indent=2, ensure_ascii=False).encode()
        file = discord.File(io.BytesIO(payload), filename="t2-companion-export.json")
        await send_ephemeral(interaction, "Here is everything stored about you.", file=file)
