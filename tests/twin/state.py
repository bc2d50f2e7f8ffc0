"""The twin's world: users, guilds, roles, channels, webhooks, messages, interactions.

Plain dataclasses plus permission resolution following Discord's algorithm
(owner -> administrator -> @everyone + roles -> channel overwrites for @everyone,
roles, then the member; threads use their parent's overwrites).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import discord

from . import payloads as p

PERMISSION_BITS: dict[str, int] = dict(discord.Permissions.VALID_FLAGS)
ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = PERMISSION_BITS["administrator"]
VIEW_CHANNEL = PERMISSION_BITS["view_channel"]

DEFAULT_EVERYONE_PERMISSIONS = (
    "view_channel",
    "create_instant_invite",
    "change_nickname",
    "send_messages",
    "send_messages_in_threads",
    "create_public_threads",
    "create_private_threads",
    "embed_links",
    "attach_files",
    "add_reactions",
    "use_external_emojis",
    "use_external_stickers",
    "mention_everyone",
    "read_message_history",
    "use_application_commands",
    "send_voice_messages",
    "send_polls",
    "connect",
    "speak",
)

DEFAULT_BOT_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "send_messages_in_threads",
    "create_public_threads",
    "create_private_threads",
    "manage_threads",
    "embed_links",
    "attach_files",
    "read_message_history",
    "add_reactions",
    "use_external_emojis",
    "manage_messages",
    "manage_webhooks",
    "use_application_commands",
)

# Lazily created roles for add_member(manage_guild=..., manage_messages=..., administrator=...).
CONVENIENCE_ROLES = {
    "manage_guild": ("Managers", ("manage_guild",)),
    "manage_messages": ("Moderators", ("manage_messages",)),
    "administrator": ("Admins", ("administrator",)),
}


def permission_value(names: Iterable[str]) -> int:
    value = 0
    for name in names:
        try:
            value |= PERMISSION_BITS[name]
        except KeyError:
            raise ValueError(f"unknown permission {name!r}; see discord.Permissions.VALID_FLAGS") from None
    return value


@dataclass
class Upload:
    """A file a simulated user attaches (``send_message(attachments=...)`` or an attachment option)."""

    filename: str
    data: bytes = b""
    content_type: str | None = None
    description: str | None = None


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    discriminator: str = "0"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class Member:
    user_id: int
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=p.now_iso)


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    id: int
    type: int
    name: str = ""
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    recipient_id: int | None = None  # DM channels
    owner_id: int | None = None  # threads
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    created_at: str = field(default_factory=p.now_iso)
    last_message_id: int | None = None
    message_count: int = 0
    member_count: int = 1
    webhook_limit: int = 15

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_thread(self) -> bool:
        return self.type in p.THREAD_TYPES


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    role_ids: list[int] = field(default_factory=list)  # [0] is @everyone (same id as the guild)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    system_channel_id: int | None = None
    joined_at: str = field(default_factory=p.now_iso)
    convenience_roles: dict[str, int] = field(default_factory=dict)


@dataclass
class Webhook:
    id: int
    channel_id: int
    guild_id: int
    name: str
    creator_id: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(51))
    avatar: str | None = None
    deleted: bool = False


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user_id: int
    payload: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    response_type: int | None = None
    original_message_id: int | None = None
    loading: bool = False
    deferred_flags: int = 0
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    autocomplete_choices: list[dict[str, Any]] | None = None


class World:
    """All objects the twin knows about, keyed by id."""

    def __init__(self, *, bot_user: User, application_id: int, bot_permissions: Iterable[str]) -> None:
        self.ids = p.Snowflakes()
        self.application_id = application_id
        self.bot_user = bot_user
        self.bot_permissions = permission_value(bot_permissions)
        self.users: dict[int, User] = {bot_user.id: bot_user}
        self.guilds: dict[int, Guild] = {}
        self.roles: dict[int, Role] = {}
        self.channels: dict[int, Channel] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.messages: dict[int, dict[str, Any]] = {}  # every message, by id
        self.channel_messages: dict[int, list[int]] = {}  # channel id -> message ids, oldest first
        self.interactions: dict[int, InteractionRecord] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.attachments: dict[int, tuple[str, bytes]] = {}
        self.reaction_users: dict[tuple[int, str], list[int]] = {}  # (message id, emoji id or name) -> users

    # ------------------------------------------------------------------ lookups
    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[int(channel_id)]
        except KeyError:
            raise KeyError(f"unknown channel {channel_id}") from None

    def user(self, user_id: int) -> User:
        try:
            return self.users[int(user_id)]
        except KeyError:
            raise KeyError(f"unknown user {user_id}") from None

    def guild_of(self, channel: Channel) -> Guild | None:
        return None if channel.guild_id is None else self.guilds[channel.guild_id]

    def permission_channel(self, channel: Channel) -> Channel:
        """Threads take their permissions from their parent channel."""
        if channel.is_thread and channel.parent_id is not None:
            return self.channels[channel.parent_id]
        return channel

    # -------------------------------------------------------------- permissions
    def base_permissions(self, guild: Guild, user_id: int) -> int:
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        value = self.roles[guild.id].permissions
        if member is not None:
            for role_id in member.role_ids:
                value |= self.roles[role_id].permissions
        if value & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return value

    def permissions_for(self, channel_id: int | None, user_id: int, guild_id: int | None = None) -> int:
        """Effective permissions of ``user_id`` in a channel (or guild-wide if channel_id is None)."""
        if channel_id is None:
            if guild_id is None:
                raise ValueError("channel_id or guild_id is required")
            return self.base_permissions(self.guilds[guild_id], user_id)
        channel = self.channel(channel_id)
        if channel.guild_id is None:  # DMs: everything a DM allows
            return permission_value(
                (
                    "view_channel",
                    "send_messages",
                    "embed_links",
                    "attach_files",
                    "read_message_history",
                    "add_reactions",
                )
            )
        guild = self.guilds[channel.guild_id]
        value = self.base_permissions(guild, user_id)
        if value & ADMINISTRATOR:  # owners and administrators bypass overwrites
            return ALL_PERMISSIONS
        source = self.permission_channel(channel)
        everyone = source.overwrites.get(guild.id)
        if everyone is not None:
            value = (value & ~everyone.deny) | everyone.allow
        member = guild.members.get(user_id)
        role_ids = set(member.role_ids) if member else set()
        allow = deny = 0
        for ow in source.overwrites.values():
            if ow.type == 0 and ow.id in role_ids:
                allow |= ow.allow
                deny |= ow.deny
        value = (value & ~deny) | allow
        own = source.overwrites.get(user_id)
        if own is not None and own.type == 1:
            value = (value & ~own.deny) | own.allow
        if not value & VIEW_CHANNEL:
            return 0
        return value

    def has(self, channel_id: int, user_id: int, *names: str) -> bool:
        needed = permission_value(names)
        return self.permissions_for(channel_id, user_id) & needed == needed

    # ------------------------------------------------------------------ messages
    def store_message(self, message: dict[str, Any]) -> dict[str, Any]:
        message_id = int(message["id"])
        channel_id = int(message["channel_id"])
        self.messages[message_id] = message
        self.channel_messages.setdefault(channel_id, []).append(message_id)
        channel = self.channels.get(channel_id)
        if channel is not None and not message["flags"] & p.EPHEMERAL:
            channel.last_message_id = message_id
            if channel.is_thread:
                channel.message_count += 1
        return message

    def channel_history(self, channel_id: int) -> list[dict[str, Any]]:
        return [
            self.messages[m]
            for m in self.channel_messages.get(channel_id, [])
            if not self.messages[m].get("deleted") and not self.messages[m]["flags"] & p.EPHEMERAL
        ]

    def find_interaction_by_token(self, token: str) -> InteractionRecord | None:
        for record in self.interactions.values():
            if record.token == token:
                return record
        return None
