"""Which shard a guild belongs to, as Discord assigns them."""

from __future__ import annotations

__all__ = ["shard_of"]


def shard_of(guild_id: int | None, shard_count: int | None) -> int:
    """The shard that receives a guild's events: ``(guild_id >> 22) % shard_count``; DMs (no guild) are shard 0."""
    if not guild_id or not shard_count or shard_count <= 1:
        return 0
    return (guild_id >> 22) % shard_count
