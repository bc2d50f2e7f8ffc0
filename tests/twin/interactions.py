"""Interaction machinery: building INTERACTION_CREATE payloads and handling the bot's answers.

Answers arrive over REST: ``POST /interactions/{id}/{token}/callback`` (discord.py always asks
``?with_response=1`` and parses the interaction-callback object), followups
``POST /webhooks/{application_id}/{token}`` and ``.../messages/@original|{id}`` edits/deletes.
"""

# Waiting helpers take an explicit ``timeout`` (seconds) on purpose: it is their API.
# ruff: noqa: ASYNC109

from __future__ import annotations

import copy
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import payloads as p
from .rest import RecordedFile, form_error
from .state import Channel, Guild, InteractionRecord, Upload

if TYPE_CHECKING:
    from .server import DiscordTwin

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
DEFERRALS = (5, 6)
"""Callback types that acknowledge an interaction and show nothing yet: "thinking...", and a deferred update."""


@dataclass
class TwinInteraction:
    """Handle on an interaction the twin sent (slash command, button click, modal submit ...)."""

    twin: DiscordTwin = field(repr=False)
    id: int
    token: str
    type: int
    channel_id: int
    user_id: int
    payload: dict[str, Any] = field(repr=False)

    @property
    def record(self) -> InteractionRecord:
        return self.twin.world.interactions[self.id]

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Callbacks, followups and edits the bot made for this interaction, in order."""
        return self.twin.interaction_responses[self.id]

    async def wait_for_responses(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot made at least ``count`` responses (callback, followups, edits); returns them all."""
        return await self.twin.wait_until(
            lambda: self.responses if len(self.responses) >= count else None,
            timeout,
            what=f"{count} response(s) to interaction {self.id}",
        )

    @property
    def answers(self) -> list[dict[str, Any]]:
        """The responses that show something, in order: not an acknowledgement ("thinking...", a deferred update),
        which only tells Discord the answer is coming, nor a deletion."""
        return [
            r
            for r in self.responses
            if not (r["kind"] == "callback" and r["type"] in DEFERRALS) and not r["kind"].startswith("delete")
        ]

    async def wait_for_answers(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot answered ``count`` times, past any deferral (see ``answers``); returns the answers."""
        return await self.twin.wait_until(
            lambda: self.answers if len(self.answers) >= count else None,
            timeout,
            what=f"{count} answer(s) to interaction {self.id}",
        )

    @property
    def original_message(self) -> dict[str, Any] | None:
        mid = self.record.original_message_id
        return None if mid is None else p.public_message(self.twin.world.messages[mid])

    @property
    def followups(self) -> list[dict[str, Any]]:
        return [p.public_message(self.twin.world.messages[m]) for m in self.record.followup_ids]

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal (callback ``data``) the bot answered with, if any."""
        return self.record.modal

    @property
    def autocomplete_choices(self) -> list[dict[str, Any]] | None:
        return self.record.autocomplete_choices


class InteractionOps:
    def __init__(self, twin: DiscordTwin) -> None:
        self.twin = twin
        self.world = twin.world
        self.gateway = twin.gateway
        self.messages = twin.message_ops
        self.notify = twin.notify
        #: interaction id -> callbacks, followups and edits, in order
        self.responses: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)

    def find_command(self, channel: Channel, name: str, ctype: int) -> dict[str, Any]:
        candidates = []
        if channel.guild_id is not None:
            candidates += self.world.guild_commands.get(channel.guild_id, [])
        candidates += self.world.global_commands
        for cmd in candidates:
            if cmd["name"] == name and cmd.get("type", 1) == ctype:
                return cmd
        known = sorted({c["name"] for c in candidates})
        raise LookupError(f"command {name!r} (type {ctype}) was not synced by the bot; synced: {known}")

    def command_data(
        self,
        channel_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        *,
        subcommand: str | None,
        group: str | None,
        focused: str | None = None,
    ) -> dict[str, Any]:
        channel = self.world.channel(channel_id)
        guild = self.world.guild_of(channel)
        cmd = self.find_command(channel, name, 1)
        schema: list[dict[str, Any]] = cmd.get("options") or []
        path: list[tuple[int, str]] = []
        for kind, part in ((2, group), (1, subcommand)):
            if part is None:
                continue
            node = next((o for o in schema if o["name"] == part and o["type"] == kind), None)
            if node is None:
                raise LookupError(f"{name}: no {'group' if kind == 2 else 'subcommand'} {part!r}")
            path.append((kind, part))
            schema = node.get("options") or []
        resolved: dict[str, Any] = {}
        leaf: list[dict[str, Any]] = []
        for opt_name, value in (options or {}).items():
            spec = next((o for o in schema if o["name"] == opt_name), None)
            if spec is None:
                raise LookupError(f"{name}: unknown option {opt_name!r}; options: {[o['name'] for o in schema]}")
            option = {"name": opt_name, "type": spec["type"], "value": self.option_value(spec, value, resolved, guild)}
            if focused == opt_name:
                option["focused"] = True
                option["value"] = str(value) if spec["type"] not in (3,) else value
            leaf.append(option)
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in (options or {})]
        if missing and focused is None:
            raise ValueError(f"{name}: missing required options {missing}")
        nested = leaf
        for kind, part in reversed(path):
            nested = [{"name": part, "type": kind, "options": nested}]
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1, "options": nested}
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        return data

    @staticmethod
    def id_of(value: Any) -> int:
        if isinstance(value, Mapping):
            return int(value["id"])
        return int(getattr(value, "id", value))

    def resolve_user(self, resolved: dict[str, Any], guild: Guild | None, user_id: int) -> None:
        user = self.world.user(user_id)
        resolved.setdefault("users", {})[str(user.id)] = p.user_payload(user)
        if guild is not None and user.id in guild.members:
            member = p.member_payload(guild.members[user.id], user, include_user=False)
            member["permissions"] = str(self.world.base_permissions(guild, user.id))
            resolved.setdefault("members", {})[str(user.id)] = member

    def option_value(self, spec: dict[str, Any], value: Any, resolved: dict[str, Any], guild: Guild | None) -> Any:
        kind = spec["type"]
        if kind == 3:
            return str(value)
        if kind == 4:
            return int(value)
        if kind == 5:
            return bool(value)
        if kind == 10:
            return float(value)
        if kind == 6:
            self.resolve_user(resolved, guild, self.id_of(value))
            return str(self.id_of(value))
        if kind == 7:
            channel = self.world.channel(self.id_of(value))
            perms = self.world.permissions_for(channel.id, self.world.bot_user.id)
            resolved.setdefault("channels", {})[str(channel.id)] = p.channel_payload(
                self.world, channel, permissions=perms
            )
            return str(channel.id)
        if kind in (8, 9):
            target = self.id_of(value)
            if target in self.world.roles:
                resolved.setdefault("roles", {})[str(target)] = p.role_payload(self.world.roles[target])
            elif kind == 9:
                self.resolve_user(resolved, guild, target)
            else:
                raise KeyError(f"unknown role {target}")
            return str(target)
        if kind == 11:
            if not isinstance(value, Upload):
                raise TypeError("attachment options take a twin Upload(filename, data)")
            attachment = self.messages.store_attachment(
                0, value.filename, value.data, value.content_type, value.description
            )
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            return attachment["id"]
        raise ValueError(f"unsupported option type {kind}")

    async def create(
        self,
        itype: int,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> TwinInteraction:
        if not self.gateway.sessions:
            raise RuntimeError("no gateway session: is the client running (and ready)?")
        world = self.world
        channel = world.channel(channel_id)
        guild = world.guild_of(channel)
        user = world.user(user_id)
        iid = world.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        user_perms = world.permissions_for(channel.id, user.id)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.world.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": p.channel_payload(world, channel, permissions=user_perms),
            "app_permissions": str(world.permissions_for(channel.id, self.world.bot_user.id)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": p.ATTACHMENT_SIZE_LIMIT,
        }
        if guild is not None:
            if user.id not in guild.members:
                raise ValueError(f"user {user.id} is not a member of guild {guild.id}")
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": p.member_payload(guild.members[user.id], user, permissions=user_perms),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        else:
            payload.update({"user": p.user_payload(user), "authorizing_integration_owners": {"0": "0"}, "context": 1})
        if message is not None:
            payload["message"] = p.public_message(message)
        world.interactions[iid] = InteractionRecord(iid, token, itype, channel.id, channel.guild_id, user.id, payload)
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return TwinInteraction(self.twin, iid, token, itype, channel.id, user.id, payload)

    def record_response(
        self,
        record: InteractionRecord,
        kind: str,
        data: dict[str, Any],
        msg: dict[str, Any] | None,
        rtype: int | None = None,
    ) -> None:
        flags = int(data.get("flags") or 0)
        ephemeral = bool((msg["flags"] if msg is not None else flags) & p.EPHEMERAL)
        self.responses[record.id].append(
            {
                "kind": kind,
                "type": rtype,
                "data": copy.deepcopy(data),
                "flags": flags,
                "ephemeral": ephemeral,
                "message": p.public_message(msg) if msg is not None else None,
                "time": time.monotonic(),
            }
        )
        self.notify()

    def response_message(
        self, record: InteractionRecord, data: dict[str, Any], files: list[RecordedFile], *, flags: int, original: bool
    ) -> dict[str, Any]:
        channel = self.world.channel(record.channel_id)
        message_type = 0
        if original and record.type == APPLICATION_COMMAND:
            message_type = 20 if record.payload["data"].get("type", 1) == 1 else 23
        return self.messages.create(
            channel,
            author=p.user_payload(self.world.bot_user),
            member_id=self.world.bot_user.id,
            data=data,
            files=files,
            webhook_id=self.world.application_id,
            interaction=record,
            flags=flags,
            message_type=message_type,
        )

    def callback(
        self,
        record: InteractionRecord,
        rtype: int,
        data: dict[str, Any],
        files: list[RecordedFile],
        *,
        with_response: bool,
    ) -> Any:
        msg: dict[str, Any] | None = None
        if rtype == 4:
            msg = self.response_message(record, data, files, flags=int(data.get("flags") or 0), original=True)
            record.original_message_id = int(msg["id"])
        elif rtype == 5:
            flags = (int(data.get("flags") or 0) & p.EPHEMERAL) | p.LOADING
            msg = self.response_message(record, {"content": ""}, [], flags=flags, original=True)
            record.original_message_id = int(msg["id"])
            record.loading = True
            record.deferred_flags = flags & p.EPHEMERAL
        elif rtype in (6, 7):
            target = record.payload.get("message")
            if target is None:
                raise form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "There is no message to update")
            record.original_message_id = int(target["id"])
            if rtype == 7:
                msg = self.world.messages[int(target["id"])]
                self.messages.edit(msg, data, files)
        elif rtype == 8:
            record.autocomplete_choices = list(data.get("choices") or [])
        elif rtype == 9:
            record.modal = copy.deepcopy(data)
        record.response_type = rtype  # only once the callback was accepted
        self.record_response(record, "callback", data, msg, rtype)
        if not with_response:
            return None
        interaction: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "response_message_loading": rtype == 5,
            "response_message_ephemeral": bool(msg is not None and msg["flags"] & p.EPHEMERAL),
        }
        resource: dict[str, Any] = {"type": rtype}
        if msg is not None:
            interaction["response_message_id"] = msg["id"]
            resource["message"] = p.public_message(msg)
        return {"interaction": interaction, "resource": resource}

    def followup(self, record: InteractionRecord, data: dict[str, Any], files: list[RecordedFile]) -> dict[str, Any]:
        if record.loading and record.original_message_id is not None:
            original = self.world.messages[record.original_message_id]
            record.loading = not original.get("deleted")
        if record.loading and record.original_message_id is not None:
            # The first followup after a "thinking" defer completes the deferred message, keeping the defer's
            # ephemerality; once that message was deleted, a followup is a message of its own, with its own flags.
            msg = self.world.messages[record.original_message_id]
            self.messages.edit(msg, data, files, flags=record.deferred_flags)
            record.loading = False
        else:
            msg = self.response_message(record, data, files, flags=int(data.get("flags") or 0), original=False)
            record.followup_ids.append(int(msg["id"]))
        self.record_response(record, "followup", data, msg)
        return msg


def walk_components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for comp in components:
        yield comp
        yield from walk_components(comp.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from walk_components([comp[key]])
