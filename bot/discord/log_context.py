"""The guild, channel and shard of each Discord event, for its log lines (see ``bot.ops.logs``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import discord

from bot.ops.logs import bind, log_context
from bot.sharding import shard_of

__all__ = ["bind_channel", "bind_interaction", "bind_message", "channel_context"]


def bind_message(client: discord.Client, message: discord.Message) -> None:
    """Log the rest of this handler's task with the message's guild, channel and shard."""
    guild = message.guild.id if message.guild is not None else None
    bind(guild=guild, channel=message.channel.id, shard=shard_of(guild, client.shard_count or 1))


def bind_interaction(interaction: discord.Interaction) -> None:
    """Log the rest of this handler's task with the interaction's guild, channel and shard."""
    guild = interaction.guild_id
    bind(guild=guild, channel=interaction.channel_id, shard=shard_of(guild, interaction.client.shard_count or 1))


def bind_channel(client: discord.Client, channel_id: int) -> None:
    """Log the rest of this task with a channel, its guild when the channel is known, and their shard."""
    channel = client.get_channel(channel_id)
    guild = getattr(getattr(channel, "guild", None), "id", None)
    bind(guild=guild, channel=channel_id, shard=shard_of(guild, client.shard_count or 1))


@contextlib.contextmanager
def channel_context(client: discord.Client, channel_id: int) -> Iterator[None]:
    """Log the block with a channel, its guild when the channel is known, and their shard."""
    channel = client.get_channel(channel_id)
    guild = getattr(getattr(channel, "guild", None), "id", None)
    with log_context(guild=guild, channel=channel_id, shard=shard_of(guild, client.shard_count or 1)):
        yield
