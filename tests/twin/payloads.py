"""Discord v10 payload builders for the twin.

Every builder returns a fresh, JSON-serialisable ``dict`` shaped like what Discord
sends, with all keys discord.py 2.x reads unconditionally (``member['flags']``,
``user['discriminator']``, ``interaction['attachment_size_limit']`` ...).
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Channel, Guild, Member, Role, User, Webhook, World

DISCORD_EPOCH_MS = 1420070400000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# Message flags
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Channel types
GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = (PUBLIC_THREAD, PRIVATE_THREAD)

# Keys stored on twin message records that are never sent to the client.
PRIVATE_MESSAGE_KEYS = frozenset({"raw", "edits", "deleted", "interaction_id"})


class Snowflakes:
    """Generates real-looking snowflakes that strictly increase with time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17) | (1 << 12)
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate

    def next_on_shard(self, shard_id: int, num_shards: int) -> int:
        """The next snowflake whose guild would be on ``shard_id`` of ``num_shards`` (``(id >> 22) % num_shards``):
        its millisecond part is moved on to the next one that fits."""
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, (self._last >> 22) + 1)
        ms += (shard_id - ms) % num_shards
        candidate = (ms << 22) | (1 << 17) | (1 << 12)
        self._last = candidate
        return candidate


def snowflake_time(snowflake: int) -> datetime.datetime:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def iso(dt: datetime.datetime) -> str:
    return dt.isoformat()


def now_iso() -> str:
    return iso(datetime.datetime.now(datetime.UTC))


# --------------------------------------------------------------------------- users


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "discriminator": user.discriminator,
        "global_name": user.global_name,
        "avatar": user.avatar,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "bot": user.bot,
        "system": False,
        "primary_guild": None,
        "collectibles": None,
    }


def client_user_payload(user: User) -> dict[str, Any]:
    data = user_payload(user)
    data.update(
        {
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
            "premium_type": 0,
            "bot": True,
        }
    )
    return data


def member_payload(
    member: Member, user: User, *, include_user: bool = True, permissions: int | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in member.role_ids],
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "avatar_decoration_data": None,
    }
    if include_user:
        data["user"] = user_payload(user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def role_payload(role: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.bot_id is not None,
        "mentionable": False,
        "flags": 0,
    }
    if role.bot_id is not None:
        data["tags"] = {"bot_id": str(role.bot_id)}
    return data


# ------------------------------------------------------------------------ channels


def overwrites_payload(channel: Channel) -> list[dict[str, Any]]:
    return [
        {"id": str(ow.id), "type": ow.type, "allow": str(ow.allow), "deny": str(ow.deny)}
        for ow in channel.overwrites.values()
    ]


def channel_payload(world: World, channel: Channel, *, permissions: int | None = None) -> dict[str, Any]:
    data: dict[str, Any]
    if channel.type == DM:
        recipient = world.users[channel.recipient_id or 0]
        data = {
            "id": str(channel.id),
            "type": DM,
            "last_message_id": _opt_str(channel.last_message_id),
            "flags": 0,
            "recipients": [user_payload(recipient)],
        }
    elif channel.type in THREAD_TYPES:
        data = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "parent_id": str(channel.parent_id),
            "owner_id": str(channel.owner_id),
            "name": channel.name,
            "last_message_id": _opt_str(channel.last_message_id),
            "rate_limit_per_user": 0,
            "message_count": channel.message_count,
            "total_message_sent": channel.message_count,
            "member_count": channel.member_count,
            "flags": 0,
            "thread_metadata": {
                "archived": channel.archived,
                "auto_archive_duration": channel.auto_archive_duration,
                "archive_timestamp": channel.created_at,
                "locked": channel.locked,
                "create_timestamp": channel.created_at,
                **({"invitable": True} if channel.type == PRIVATE_THREAD else {}),
            },
        }
    else:
        data = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": overwrites_payload(channel),
            "parent_id": _opt_str(channel.parent_id),
            "nsfw": False,
            "flags": 0,
        }
        if channel.type == GUILD_TEXT:
            data.update(
                {
                    "topic": channel.topic,
                    "last_message_id": _opt_str(channel.last_message_id),
                    "rate_limit_per_user": 0,
                    "default_auto_archive_duration": 1440,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


# -------------------------------------------------------------------------- guilds


def guild_payload(
    world: World, guild: Guild, *, full: bool, members: Iterable[Member] | None = None, joined: bool = False
) -> dict[str, Any]:
    """A guild object. ``full`` gives the GUILD_CREATE shape (channels, members, threads ...)."""
    data: dict[str, Any] = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "region": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role_payload(world.roles[r]) for r in guild.role_ids],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": _opt_str(guild.system_channel_id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_presences": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "nsfw": False,
        "premium_progress_bar_enabled": False,
        "incidents_data": None,
    }
    if full:
        sent = list(guild.members.values()) if members is None else list(members)
        channels = [world.channels[c] for c in guild.channel_ids]
        data.update(
            {
                "joined_at": guild.joined_at,
                "large": len(guild.members) >= 250,
                "member_count": len(guild.members),
                "members": [member_payload(m, world.users[m.user_id]) for m in sent],
                "channels": [channel_payload(world, c) for c in channels if c.type not in THREAD_TYPES],
                "threads": [channel_payload(world, c) for c in channels if c.type in THREAD_TYPES and not c.archived],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "lazy": True,
            }
        )
        if not joined:
            data["unavailable"] = False
    else:
        data["approximate_member_count"] = len(guild.members)
        data["approximate_presence_count"] = 0
    return data


# ------------------------------------------------------------------------ webhooks


def webhook_payload(world: World, webhook: Webhook, *, with_user: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(webhook.id),
        "type": 1,
        "guild_id": str(webhook.guild_id),
        "channel_id": str(webhook.channel_id),
        "name": webhook.name,
        "avatar": webhook.avatar,
        "token": webhook.token,
        "application_id": str(world.application_id),
    }
    if with_user:
        data["user"] = user_payload(world.users[webhook.creator_id])
    return data


def webhook_author_payload(webhook: Webhook, username: str | None) -> dict[str, Any]:
    return {
        "id": str(webhook.id),
        "username": username or webhook.name,
        "discriminator": "0000",
        "global_name": None,
        "avatar": webhook.avatar,
        "avatar_decoration_data": None,
        "public_flags": 0,
        "flags": 0,
        "bot": True,
    }


# ------------------------------------------------------------------------ messages

USER_MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")


def parse_emoji(emoji: str) -> dict[str, Any]:
    """A reaction emoji from a URL segment: ``name:id`` / ``a:name:id`` (custom, as discord.py sends them)
    or a unicode emoji."""
    parts = [x for x in emoji.split(":") if x]
    if len(parts) >= 2 and parts[-1].isdigit():
        return {"id": parts[-1], "name": parts[-2], "animated": len(parts) == 3 and parts[0] == "a"}
    return {"id": None, "name": emoji}


def public_message(message: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored message without the twin's bookkeeping keys."""
    data = {k: v for k, v in message.items() if k not in PRIVATE_MESSAGE_KEYS}
    ref = data.get("referenced_message")
    if isinstance(ref, dict):
        data["referenced_message"] = {k: v for k, v in ref.items() if k not in PRIVATE_MESSAGE_KEYS}
    return data


def base_message(
    *,
    message_id: int,
    channel: Channel,
    author: dict[str, Any],
    content: str,
    message_type: int = 0,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel.id),
        "type": message_type,
        "author": author,
        "content": content,
        "timestamp": iso(snowflake_time(message_id)),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": False,
        "flags": 0,
    }
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
    if channel.type in THREAD_TYPES:
        data["position"] = channel.message_count
    return data


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
