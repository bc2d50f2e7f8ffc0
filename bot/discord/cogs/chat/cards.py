"""``/persona card import|list|remove``: the character cards a server imported, as answers to show."""

from __future__ import annotations

import discord

from bot.cards.boundary import NewCharacter
from bot.cards.guild import MAX_CARD_UPLOAD_BYTES, GuildCards
from bot.cards.model import CardError
from bot.discord.client import Refusal
from bot.discord.cogs.chat.listener import user_key
from personas.roster import PERSONAS

__all__ = ["import_card", "list_cards", "remove_card"]

CARD_SUFFIXES = (".json", ".png")


async def import_card(cards: GuildCards, guild_id: int, user: discord.abc.User, file: discord.Attachment) -> str:
    """Read the uploaded card and store it for the server; the answer to show. A bad card raises ``Refusal`` with
    the field at fault."""
    if not file.filename.lower().endswith(CARD_SUFFIXES):
        raise Refusal(f"{file.filename}: a card is a .json or .png file.")
    if file.size > MAX_CARD_UPLOAD_BYTES:
        raise Refusal(f"{file.filename}: {file.size:,} bytes, more than the {MAX_CARD_UPLOAD_BYTES:,} a card may have.")
    try:
        data = await file.read()
    except discord.HTTPException as exc:
        raise Refusal(f"{file.filename} could not be downloaded from Discord; try again.") from exc
    try:
        imported = await cards.import_card(guild_id, data, user_key(user))
    except CardError as exc:
        raise Refusal(f"{file.filename} was not imported: {exc}") from exc
    role = imported.role
    if isinstance(role, NewCharacter):
        until = f" by scene {role.until_scene}" if role.until_scene is not None else ""
        what = (
            f"**{imported.name}** joins this server as a character who speaks only through the language model, "
            f"knowing what {PERSONAS[role.knows_like].display_name} knows{until}. Start a message with the name "
            f'to talk: "{role.entity}, ...".'
        )
    else:
        what = (
            f"**{imported.name}** now styles {PERSONAS[role.persona].display_name}'s voice when the language model "
            "words the replies here; what they know stays their own."
        )
    notes = f" ({len(imported.warnings)} warnings: fields older tools leave out)" if imported.warnings else ""
    return f"{what}{notes}"


async def list_cards(cards: GuildCards, guild_id: int) -> str:
    """The server's cards, a line each."""
    stored = await cards.listed(guild_id)
    if not stored:
        return "This server has no character cards. Import one with /persona card import."
    lines = []
    for card in stored:
        if card.kind == "character":
            lines.append(f"**{card.name}**: a character (`{card.key}`), imported {card.imported_at:%Y-%m-%d}")
        else:
            persona = PERSONAS[card.key].display_name if card.key in PERSONAS else card.key
            lines.append(f"**{card.name}**: styles {persona}'s voice, imported {card.imported_at:%Y-%m-%d}")
    return "\n".join(lines)


async def remove_card(cards: GuildCards, guild_id: int, name: str) -> str:
    """Remove the server's card by name (or its persona's or character's id); the answer to show."""
    removed = await cards.remove(guild_id, name)
    if not removed:
        raise Refusal(f"This server has no card called {name!r}. /persona card list shows them.")
    return f"Removed {', '.join(removed)}."
