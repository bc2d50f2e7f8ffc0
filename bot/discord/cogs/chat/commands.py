"""Slash commands for chat: /talk, /persona set|list|channel|model, /why."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import require_manage_guild
from bot.discord.client import CompanionBot, Refusal, defer_answer, send_ephemeral, send_public
from bot.discord.cogs.chat.listener import scope_of, user_key
from bot.discord.personas_out import persona_embed
from bot.splitting import split_message
from personas.roster import PERSONAS

__all__ = ["PERSONA_CHOICES", "ChatCommands"]

PERSONA_CHOICES = [app_commands.Choice(name=persona.display_name, value=persona.id) for persona in PERSONAS.values()]
MAX_TALK_CHARS = 1500


class ChatCommands(commands.Cog):
    """/talk, /persona and /why."""

    persona_group = app_commands.Group(name="persona", description="Choose who answers you")

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot

    @app_commands.command(name="talk", description="Say something to John, Sarah or the T-800")
    @app_commands.describe(persona="who you talk to", message="what you say")
    @app_commands.choices(persona=PERSONA_CHOICES)
    async def talk(
        self,
        interaction: discord.Interaction,
        persona: app_commands.Choice[str],
        message: app_commands.Range[str, 1, MAX_TALK_CHARS],
    ) -> None:
        """Answer ``message`` as ``persona`` in this channel."""
        if not self.bot.accepting:
            raise Refusal("The bot is restarting; try again in a moment.")
        if not self.bot.user_limits.take(interaction.user.id):
            raise Refusal("You are talking too fast. Wait a few seconds.")
        await defer_answer(interaction, ephemeral=False)
        reply = await self.bot.track(
            self.bot.app.chat.reply(
                user_key(interaction.user),
                scope_of(interaction.channel),
                message,
                persona=persona.value,
                guild_id=interaction.guild_id,
            )
        )
        for part in split_message(reply.text):
            await send_public(interaction, embed=persona_embed(reply.persona, part))

    @persona_group.command(name="set", description="Choose your default persona")
    @app_commands.choices(persona=PERSONA_CHOICES)
    async def persona_set(self, interaction: discord.Interaction, persona: app_commands.Choice[str]) -> None:
        """Remember who answers this user when they do not name anyone."""
        await defer_answer(interaction, ephemeral=True)
        chosen = await self.bot.app.chat.set_default_persona(user_key(interaction.user), persona.value)
        await send_ephemeral(interaction, f"{chosen.display_name} will answer you from now on.")

    @persona_group.command(name="list", description="Who you can talk to")
    async def persona_list(self, interaction: discord.Interaction) -> None:
        """Show the three personas with a line each."""
        embed = discord.Embed(title="Who you can talk to")
        for persona in self.bot.app.chat.personas():
            embed.add_field(
                name=persona.display_name, value=f"{persona.description}\n*{persona.vantage}*", inline=False
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @persona_group.command(name="channel", description="Make a persona answer every message here (Manage Server)")
    @app_commands.describe(persona="who answers every message in this channel; Off stops it")
    @app_commands.choices(persona=[*PERSONA_CHOICES, app_commands.Choice(name="Off", value="off")])
    async def persona_channel(self, interaction: discord.Interaction, persona: app_commands.Choice[str]) -> None:
        """Turn auto-chat on or off for this channel."""
        require_manage_guild(interaction)
        channel_id = interaction.channel_id
        assert channel_id is not None
        await defer_answer(interaction, ephemeral=True)
        chosen = None if persona.value == "off" else persona.value
        await self.bot.channels.set_auto_persona(channel_id, interaction.guild_id, chosen)
        if chosen is None:
            await send_ephemeral(interaction, "Auto-chat is off in this channel. Mention me to talk.")
        else:
            note = "" if self.bot.intents.message_content else " (needs the message content intent, which is off)"
            name = PERSONAS[chosen].display_name
            await send_ephemeral(interaction, f"{name} now answers every message in this channel{note}.")

    @persona_group.command(name="model", description="Let a language model word the replies here (Manage Server)")
    @app_commands.describe(state="on: replies are worded by the configured model, still only from the plot facts")
    @app_commands.choices(
        state=[app_commands.Choice(name="On", value="on"), app_commands.Choice(name="Off", value="off")]
    )
    async def persona_model(self, interaction: discord.Interaction, state: app_commands.Choice[str]) -> None:
        """Turn the model backend on or off for this server."""
        require_manage_guild(interaction)
        policy = self.bot.app.chat.model_policy
        if policy is None:
            raise Refusal("No language model is configured for this bot (LLM_BASE_URL); the offline engine answers.")
        if interaction.guild_id is None:
            raise Refusal("The model can only be turned on in a server.")
        await defer_answer(interaction, ephemeral=True)
        await policy.set_enabled(interaction.guild_id, state.value == "on")
        if state.value == "off":
            await send_ephemeral(interaction, "The offline engine answers here again.")
            return
        used = await policy.used_today(interaction.guild_id)
        await send_ephemeral(
            interaction,
            f"Replies here are now worded by the model, checked against the plot facts before they are posted "
            f"(the offline engine answers whenever a reply fails that check). Today's budget: "
            f"{used:,} of {policy.daily_tokens:,} tokens used.",
        )

    @app_commands.command(name="why", description="Which plot facts the last reply you got here came from")
    async def why(self, interaction: discord.Interaction) -> None:
        """List the facts behind the user's last reply in this channel, and what worded it (several messages when
        the facts take more than one)."""
        await defer_answer(interaction, ephemeral=True)
        explained = await self.bot.app.chat.explain(user_key(interaction.user), scope_of(interaction.channel))
        persona, facts = explained.persona, explained.facts
        if persona is None:
            await send_ephemeral(interaction, "Nobody has answered you in this channel yet.")
            return
        by = " (worded by the language model)" if explained.backend == "model" else " (from the offline engine)"
        if not facts:
            await send_ephemeral(interaction, f"{persona.display_name}'s last reply to you{by} stated no plot fact.")
            return
        lines = [f"**{fact.id}** (scene {fact.scene}): {fact.text}" for fact in facts]
        await send_ephemeral(interaction, f"{persona.display_name}'s last reply{by} rests on:\n" + "\n".join(lines))
