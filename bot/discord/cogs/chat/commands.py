"""Slash commands for chat: /talk, /persona set|list|channel|model, /persona card import|list|remove, /why."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.cards.guild import GuildCards
from bot.discord.checks import require_manage_guild
from bot.discord.client import CompanionBot, Refusal, defer_answer, send_ephemeral
from bot.discord.cogs.chat import cards
from bot.discord.cogs.chat.listener import scope_of, user_key
from bot.discord.interaction_stream import InteractionStream
from personas.persona import Persona
from personas.roster import PERSONAS, find_persona

__all__ = ["PERSONA_CHOICES", "ChatCommands", "talk_choices"]

PERSONA_CHOICES = [app_commands.Choice(name=persona.display_name, value=persona.id) for persona in PERSONAS.values()]
MAX_TALK_CHARS = 1500
MAX_CHOICES = 25
"""The most choices Discord shows for an autocompleted option."""


def talk_choices(personas: list[Persona], current: str) -> list[app_commands.Choice[str]]:
    """The choices for /talk's persona option: those whose name or id has ``current`` in it, in the order given."""
    typed = " ".join(current.split()).lower()
    matching = [
        persona
        for persona in personas
        if typed in persona.display_name.lower() or typed in persona.id or any(typed in n for n in persona.short_names)
    ]
    return [app_commands.Choice(name=persona.display_name, value=persona.id) for persona in matching[:MAX_CHOICES]]


class ChatCommands(commands.Cog):
    """/talk, /persona and /why."""

    persona_group = app_commands.Group(name="persona", description="Choose who answers you")
    card_group = app_commands.Group(name="card", description="Character cards for this server", parent=persona_group)

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot

    @app_commands.command(name="talk", description="Say something to John, Sarah, the T-800 or a card's character")
    @app_commands.describe(persona="who you talk to", message="what you say")
    async def talk(
        self,
        interaction: discord.Interaction,
        persona: app_commands.Range[str, 1, 100],
        message: app_commands.Range[str, 1, MAX_TALK_CHARS],
    ) -> None:
        """Answer ``message`` as ``persona`` (a persona or one of this server's card characters) in this channel,
        shown while the model streams it."""
        if not self.bot.accepting:
            raise Refusal("The bot is restarting; try again in a moment.")
        chosen = await self._talk_target(interaction.guild_id, persona)
        if not self.bot.user_limits.take(interaction.user.id):
            raise Refusal("You are talking too fast. Wait a few seconds.")
        await defer_answer(interaction, ephemeral=False)
        stream = InteractionStream(interaction)
        try:
            reply = await self.bot.track(
                self.bot.app.chat.reply(
                    user_key(interaction.user),
                    scope_of(interaction.channel),
                    message,
                    persona=chosen,
                    guild_id=interaction.guild_id,
                    stream=stream,
                )
            )
        finally:
            await stream.hold()  # a failed turn shows nothing more; its "thinking..." is withdrawn with the error
        await stream.finish(reply.persona, reply.text)

    @talk.autocomplete("persona")
    async def talk_persona_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The personas and this server's card characters whose name has what the user typed so far."""
        return talk_choices(await self._talk_personas(interaction.guild_id), current)

    async def _talk_personas(self, guild_id: int | None) -> list[Persona]:
        """Who /talk can answer as here: the personas, then this server's card characters."""
        found = self.bot.app.chat.cards
        characters = (await found.for_guild(guild_id)).characters if found is not None else {}
        return [*self.bot.app.chat.personas(), *(character.persona for character in characters.values())]

    async def _talk_target(self, guild_id: int | None, name: str) -> str:
        """The id of the persona or card character called ``name`` (an id or a name); a Refusal lists who there is."""
        persona = find_persona(name)
        if persona is not None and persona in self.bot.app.chat.personas():
            return persona.id
        found = self.bot.app.chat.cards
        character = (await found.for_guild(guild_id)).character(name) if found is not None else None
        if character is not None:
            return character.persona.id
        valid = ", ".join(each.display_name for each in await self._talk_personas(guild_id))
        raise Refusal(f"There is no one called {name!r} to talk to here. Choose one of: {valid}.")

    @persona_group.command(name="set", description="Choose your default persona")
    @app_commands.choices(persona=PERSONA_CHOICES)
    async def persona_set(self, interaction: discord.Interaction, persona: app_commands.Choice[str]) -> None:
        """Remember who answers this user when they do not name anyone."""
        await defer_answer(interaction, ephemeral=True)
        chosen = await self.bot.app.chat.set_default_persona(user_key(interaction.user), persona.value)
        await send_ephemeral(interaction, f"{chosen.display_name} will answer you from now on.")

    @persona_group.command(name="list", description="Who you can talk to")
    async def persona_list(self, interaction: discord.Interaction) -> None:
        """Show the personas, and the characters of this server's cards, a line each."""
        embed = discord.Embed(title="Who you can talk to")
        for persona in self.bot.app.chat.personas():
            embed.add_field(
                name=persona.display_name, value=f"{persona.description}\n*{persona.vantage}*", inline=False
            )
        found = self.bot.app.chat.cards
        characters = (await found.for_guild(interaction.guild_id)).characters if found is not None else {}
        for character in characters.values():
            name = character.persona.display_name
            value = f"From this server's cards; speaks only through the language model. *{character.persona.vantage}*"
            embed.add_field(name=f"{name} (start a message with {character.persona.id})", value=value, inline=False)
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

    @card_group.command(name="import", description="Import a character card, .json or .png (Manage Server)")
    @app_commands.describe(file="a Character Card V2 (or V1) file that restyles a persona or adds a character")
    async def card_import(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Store a card for this server: it restyles a persona's voice or adds a model-only character."""
        require_manage_guild(interaction)
        assert interaction.guild_id is not None
        await defer_answer(interaction, ephemeral=True)
        answer = await cards.import_card(self._cards(), interaction.guild_id, interaction.user, file)
        await send_ephemeral(interaction, answer)

    @card_group.command(name="list", description="The character cards this server imported")
    async def card_list(self, interaction: discord.Interaction) -> None:
        """List this server's cards."""
        if interaction.guild_id is None:
            raise Refusal("Character cards belong to a server.")
        await defer_answer(interaction, ephemeral=True)
        await send_ephemeral(interaction, await cards.list_cards(self._cards(), interaction.guild_id))

    @card_group.command(name="remove", description="Remove a character card (Manage Server)")
    @app_commands.describe(name="the card's name, or the persona or character it is for")
    async def card_remove(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        """Remove one of this server's cards."""
        require_manage_guild(interaction)
        assert interaction.guild_id is not None
        await defer_answer(interaction, ephemeral=True)
        await send_ephemeral(interaction, await cards.remove_card(self._cards(), interaction.guild_id, name))

    def _cards(self) -> GuildCards:
        found = self.bot.app.chat.cards
        if found is None:
            raise Refusal("Character cards are not available on this bot.")
        return found

    @app_commands.command(name="why", description="Which plot facts the last reply you got here came from")
    async def why(self, interaction: discord.Interaction) -> None:
        """List the facts behind the user's last reply in this channel, and what worded it (several messages when
        the facts take more than one)."""
        await defer_answer(interaction, ephemeral=True)
        explained = await self.bot.app.chat.explain(
            user_key(interaction.user), scope_of(interaction.channel), interaction.guild_id
        )
        persona, facts = explained.persona, explained.facts
        if persona is None:
            await send_ephemeral(interaction, "Nobody has answered you in this channel yet.")
            return
        by = " (worded by the language model)" if explained.backend == "model" else " (from the offline engine)"
        if explained.card is not None and explained.backend == "model":
            by = f" (worded by the language model in the voice of the card {explained.card})"
        if not facts:
            await send_ephemeral(interaction, f"{persona.display_name}'s last reply to you{by} stated no plot fact.")
            return
        lines = [f"**{fact.id}** (scene {fact.scene}): {fact.text}" for fact in facts]
        await send_ephemeral(interaction, f"{persona.display_name}'s last reply{by} rests on:\n" + "\n".join(lines))
