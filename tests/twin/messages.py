"""Message machinery shared by the REST handlers and the twin's user events.

Creating, editing, deleting and reacting store the message in the world and enqueue the
matching gateway dispatch (MESSAGE_CREATE/UPDATE/DELETE, MESSAGE_REACTION_ADD/REMOVE),
filtered by the session's intents like Discord does.
"""

from __future__ import annotations

import copy
import mimetypes
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from . import payloads as p
from .gateway import (
    DIRECT_MESSAGE_REACTIONS,
    DIRECT_MESSAGES,
    GUILD_MESSAGE_REACTIONS,
    GUILD_MESSAGES,
    MESSAGE_CONTENT,
    Gateway,
    Session,
)
from .rest import ApiError, RecordedFile
from .state import Channel, InteractionRecord, World

APPLICATION_COMMAND = 2


class MessageOps:
    def __init__(
        self, world: World, gateway: Gateway, *, base_url: Callable[[], str], notify: Callable[[], None]
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.base_url = base_url
        self.notify = notify
        #: channel id -> messages the bot posted (REST sends and channel webhook executions)
        self.bot_posts: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)

    def content_filter(self, session: Session, data: dict[str, Any]) -> dict[str, Any] | None:
        """Without MESSAGE_CONTENT, guild messages arrive without content unless they mention the bot."""
        if session.intents & MESSAGE_CONTENT or "guild_id" not in data:
            return data
        bot_id = str(self.world.bot_user.id)
        if data["author"]["id"] == bot_id or any(m["id"] == bot_id for m in data["mentions"]):
            return data
        stripped = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
        stripped.pop("poll", None)  # discord.py reads a present ``poll`` key as a poll object
        return stripped

    def intent_for(self, msg: dict[str, Any]) -> int:
        return GUILD_MESSAGES if "guild_id" in msg else DIRECT_MESSAGES

    def store_attachment(
        self, channel_id: int, filename: str, data: bytes, content_type: str | None, description: str | None = None
    ) -> dict[str, Any]:
        aid = self.world.ids.next()
        self.world.attachments[aid] = (filename, data)
        url = f"{self.base_url()}/cdn/attachments/{channel_id}/{aid}/{quote(filename)}"
        if content_type in (None, "application/octet-stream"):
            content_type = mimetypes.guess_type(filename)[0] or content_type
        attachment: dict[str, Any] = {
            "id": str(aid),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "flags": 0,
        }
        if description:
            attachment["description"] = description
        return attachment

    def attachments(
        self, channel_id: int, data: dict[str, Any], files: list[RecordedFile], existing: Sequence[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        by_index: dict[int, RecordedFile] = {}
        for i, f in enumerate(files):
            m = re.fullmatch(r"files\[(\d+)\]", f.field)
            by_index[int(m.group(1)) if m else i] = f
        declared = data.get("attachments")
        if declared is None:
            declared = [{"id": i} for i in sorted(by_index)]
        kept = {a["id"]: a for a in existing}
        out = []
        for item in declared:
            aid = str(item.get("id"))
            if aid in kept:
                out.append(kept[aid])
            elif aid.isdigit() and int(aid) in by_index:
                f = by_index[int(aid)]
                out.append(
                    self.store_attachment(
                        channel_id,
                        item.get("filename") or f.filename or "file",
                        f.data,
                        f.content_type,
                        item.get("description"),
                    )
                )
        return out

    def mentions(
        self,
        channel: Channel,
        content: str,
        allowed: dict[str, Any] | None,
        *,
        extra_user_ids: Iterable[int] = (),
        replied_user_id: int | None = None,
    ) -> tuple[list[dict[str, Any]], list[str], bool]:
        guild = self.world.guild_of(channel)
        parse = None if allowed is None else set(allowed.get("parse") or [])
        allowed_users = {int(u) for u in (allowed or {}).get("users") or []}
        allowed_roles = {int(r) for r in (allowed or {}).get("roles") or []}
        user_ids: list[int] = []
        for uid in [int(m) for m in p.USER_MENTION_RE.findall(content)]:
            if parse is None or "users" in parse or uid in allowed_users:
                user_ids.append(uid)
        user_ids += [int(u) for u in extra_user_ids]
        if replied_user_id is not None and (allowed is None or allowed.get("replied_user")):
            user_ids.append(replied_user_id)
        mentions = []
        for uid in dict.fromkeys(user_ids):
            user = self.world.users.get(uid)
            if user is None:
                continue
            entry = p.user_payload(user)
            if guild is not None and uid in guild.members:
                entry["member"] = p.member_payload(guild.members[uid], user, include_user=False)
            mentions.append(entry)
        roles = []
        if guild is not None:
            for rid in dict.fromkeys(int(r) for r in p.ROLE_MENTION_RE.findall(content)):
                if rid in self.world.roles and (parse is None or "roles" in parse or rid in allowed_roles):
                    roles.append(str(rid))
        everyone = ("@everyone" in content or "@here" in content) and (parse is None or "everyone" in parse)
        return mentions, roles, everyone and guild is not None

    def create(
        self,
        channel: Channel,
        *,
        author: dict[str, Any],
        member_id: int | None,
        data: dict[str, Any],
        files: list[RecordedFile],
        raw: dict[str, Any] | None = None,
        webhook_id: int | None = None,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
        message_type: int = 0,
        extra_mentions: Iterable[int] = (),
    ) -> dict[str, Any]:
        """Create, store and dispatch (MESSAGE_CREATE) a message.

        ``raw`` (the request payload) marks a message the bot posted through the REST API or
        a channel webhook: it is appended to ``messages[channel_id]`` with ``raw`` kept.
        """
        world = self.world
        content = data.get("content") or ""
        mid = world.ids.next()
        msg = p.base_message(message_id=mid, channel=channel, author=author, content=content, message_type=message_type)
        msg["tts"] = bool(data.get("tts"))
        msg["embeds"] = copy.deepcopy(data.get("embeds") or [])
        msg["components"] = copy.deepcopy(data.get("components") or [])
        msg["flags"] = int(data.get("flags") or 0) if flags is None else flags
        if data.get("nonce") is not None:
            msg["nonce"] = data["nonce"]
        replied_user_id = None
        reference = data.get("message_reference")
        if reference:
            ref_id = int(reference["message_id"])
            ref = world.messages.get(ref_id)
            if ref is None or ref.get("deleted"):
                if reference.get("fail_if_not_exists", True):
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {
                            "message_reference": {
                                "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                            }
                        },
                    )
                msg["referenced_message"] = None
            else:
                msg["referenced_message"] = p.public_message(ref)
                if ref["author"]["id"] != author["id"]:
                    replied_user_id = int(ref["author"]["id"])
            msg["type"] = 19
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(ref_id),
                "channel_id": str(reference.get("channel_id") or channel.id),
                **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
            }
        mentions, roles, everyone = self.mentions(
            channel,
            content,
            data.get("allowed_mentions") if raw is not None or interaction is not None else None,
            extra_user_ids=extra_mentions,
            replied_user_id=replied_user_id,
        )
        msg["mentions"], msg["mention_roles"], msg["mention_everyone"] = mentions, roles, everyone
        msg["attachments"] = self.attachments(channel.id, data, files)
        guild = world.guild_of(channel)
        if guild is not None and member_id is not None and member_id in guild.members:
            msg["member"] = p.member_payload(guild.members[member_id], world.users[member_id], include_user=False)
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if interaction is not None:
            msg["application_id"] = str(self.world.application_id)
            msg["interaction_id"] = interaction.id
            msg["interaction_metadata"] = interaction_metadata(self.world, interaction)
        if raw is not None and interaction is None:
            msg["raw"] = copy.deepcopy(raw)
            msg["edits"] = []
        world.store_message(msg)
        if "raw" in msg:
            self.bot_posts[channel.id].append(msg)
        if not msg["flags"] & p.EPHEMERAL:
            self.gateway.enqueue(
                "MESSAGE_CREATE",
                p.public_message(msg),
                intent=self.intent_for(msg),
                transform=self.content_filter,
            )
        self.notify()
        return msg

    def edit(
        self, msg: dict[str, Any], data: dict[str, Any], files: list[RecordedFile], *, flags: int | None = None
    ) -> None:
        channel = self.world.channel(int(msg["channel_id"]))
        was_loading = bool(msg["flags"] & p.LOADING)
        if "content" in data:
            msg["content"] = data["content"] or ""
            mentions, roles, everyone = self.mentions(channel, msg["content"], data.get("allowed_mentions"))
            msg["mentions"], msg["mention_roles"], msg["mention_everyone"] = mentions, roles, everyone
        if "embeds" in data:
            msg["embeds"] = copy.deepcopy(data["embeds"] or [])
        if "components" in data:
            msg["components"] = copy.deepcopy(data["components"] or [])
        if "attachments" in data or files:
            msg["attachments"] = self.attachments(channel.id, data, files, msg["attachments"])
        if flags is not None:
            msg["flags"] = flags
        elif "flags" in data and data["flags"] is not None:
            msg["flags"] = (msg["flags"] & ~4) | (int(data["flags"]) & 4)  # only SUPPRESS_EMBEDS is editable
        if was_loading:  # an edit completes a deferred ("thinking") response; it is not shown as edited
            msg["flags"] &= ~p.LOADING
            record = self.world.interactions.get(msg.get("interaction_id", 0))
            if record is not None:
                record.loading = False
        else:
            msg["edited_timestamp"] = p.now_iso()
        if "edits" in msg:
            msg["edits"].append(copy.deepcopy(data))
        if not msg["flags"] & p.EPHEMERAL:
            self.gateway.enqueue(
                "MESSAGE_UPDATE",
                p.public_message(msg),
                intent=self.intent_for(msg),
                transform=self.content_filter,
            )
        self.notify()

    def delete(self, msg: dict[str, Any]) -> None:
        msg["deleted"] = True
        if not msg["flags"] & p.EPHEMERAL:
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in msg:
                data["guild_id"] = msg["guild_id"]
            self.gateway.enqueue("MESSAGE_DELETE", data, intent=self.intent_for(msg))
        self.notify()

    def react(self, msg: dict[str, Any], user_id: int, emoji: dict[str, Any], *, add: bool) -> None:
        key = (int(msg["id"]), emoji.get("id") or emoji["name"])
        users = self.world.reaction_users.setdefault(key, [])
        if add == (user_id in users):
            return  # already reacted / nothing to remove
        if add:
            users.append(user_id)
        else:
            users.remove(user_id)
        reactions = [r for r in msg.get("reactions", []) if (r["emoji"].get("id") or r["emoji"]["name"]) != key[1]]
        if users:
            reactions.append(
                {
                    "emoji": emoji,
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.world.bot_user.id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
            )
        msg["reactions"] = reactions
        event: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": msg["channel_id"],
            "message_id": msg["id"],
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        if "guild_id" in msg:
            event["guild_id"] = msg["guild_id"]
            guild = self.world.guilds[int(msg["guild_id"])]
            if add and user_id in guild.members:
                event["member"] = p.member_payload(guild.members[user_id], self.world.users[user_id])
        if add:
            event["message_author_id"] = msg["author"]["id"]
            event["burst_colors"] = []
        intent = GUILD_MESSAGE_REACTIONS if "guild_id" in msg else DIRECT_MESSAGE_REACTIONS
        self.gateway.enqueue("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", event, intent=intent)
        self.notify()


def interaction_metadata(world: World, record: InteractionRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": str(record.id),
        "type": record.type,
        "user": p.user_payload(world.users[record.user_id]),
        "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {}),
    }
    if record.type == APPLICATION_COMMAND:
        meta["name"] = record.payload["data"].get("name")
        meta["command_type"] = record.payload["data"].get("type", 1)
    if "message" in record.payload:
        meta["interacted_message_id"] = record.payload["message"]["id"]
    if record.original_message_id is not None:
        meta["original_response_message_id"] = str(record.original_message_id)
    return meta
