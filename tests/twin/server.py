"""``DiscordTwin``: the loopback Discord server (REST + gateway) that tests drive.

See the package docstring (``tests/twin/__init__.py``) for the API overview.
"""

# Waiting helpers take an explicit ``timeout`` (seconds) on purpose: it is their API.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from . import payloads as p
from .gateway import (
    GUILD_MEMBERS,
    GUILDS,
    INVALID_SESSION,
    RECONNECT,
    Gateway,
    GatewayFrame,
    Session,
    shard_of,
)
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionOps,
    TwinInteraction,
    walk_components,
)
from .messages import MessageOps
from .ratelimits import RateLimiter
from .rest import ApiError, Fault, RecordedFile, RecordedRequest, RestApi
from .state import (
    CONVENIENCE_ROLES,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    Guild,
    Member,
    Overwrite,
    Role,
    Upload,
    User,
    World,
    permission_value,
)

T = TypeVar("T")

# Application flags: GATEWAY_PRESENCE | GATEWAY_GUILD_MEMBERS | GATEWAY_MESSAGE_CONTENT | APPLICATION_COMMAND_BADGE
PRIVILEGED_APP_FLAGS = (1 << 12) | (1 << 14) | (1 << 18) | (1 << 23)


class TwinTimeout(TimeoutError):
    """A ``wait_for_*`` helper timed out; the message lists what the twin saw."""


class ClientCrashed(RuntimeError):
    """The watched ``client.start()`` task died while a test was waiting on the twin."""


class DiscordTwin:
    """A loopback Discord (REST v10 + gateway) for the real discord.py client.

    Create it, build the world (``add_guild``/``add_text_channel``/``add_member`` ...),
    ``await start()``, run the client inside ``patch_discord()`` with ``token``,
    then drive events (``send_message``, ``send_slash_command`` ...) and assert on
    ``requests``, ``messages``, ``interaction_responses`` and ``gateway_frames``.
    """

    #: Every twin built since the last test began (the ``allow_429`` check in ``fixtures.py`` empties it).
    created: ClassVar[list[DiscordTwin]] = []

    def __init__(
        self,
        *,
        token: str = "twin-token",
        bot_user_id: int | None = None,
        application_id: int | None = None,
        bot_name: str = "TwinBot",
        bot_permissions: Iterable[str] = DEFAULT_BOT_PERMISSIONS,
        privileged_intents: bool = True,
        heartbeat_interval: int = 41250,
        callback_deadline: float = 3.0,
        rate_limits: bool = True,
        clock: Callable[[], float] = time.time,
        shards: int = 1,
        max_concurrency: int = 1,
        sharding_required: bool = False,
    ) -> None:
        if shards < 1 or max_concurrency < 1:
            raise ValueError("shards and max_concurrency are at least 1")
        ids = p.Snowflakes()
        bot_user = User(id=bot_user_id or ids.next(), username=bot_name, bot=True)
        self.world = World(
            bot_user=bot_user, application_id=application_id or bot_user.id, bot_permissions=bot_permissions
        )
        self.world.ids = ids
        self.token = token
        #: Whether the app may use privileged intents; if False an IDENTIFY asking for them is closed with 4014.
        self.privileged_intents = privileged_intents
        self.heartbeat_interval = heartbeat_interval
        #: The shard count ``GET /gateway/bot`` recommends; with more than one, ``add_guild`` spreads guilds over them.
        self.shards = shards
        #: Identify buckets (``session_start_limit.max_concurrency``): each may identify once per 5 s.
        self.max_concurrency = max_concurrency
        #: Whether an IDENTIFY without ``shard`` is closed with 4011 (Discord: from 2,500 guilds on).
        self.sharding_required = sharding_required
        #: How many sessions may still start (``session_start_limit``); each IDENTIFY takes one.
        self.session_start_total = 1000
        #: Seconds of a dead session's written frames that the next IDENTIFY gets replayed (see ``gateway.py``);
        #: None (the default) is Discord's behaviour: a new session starts with nothing of the old one.
        self.replay_on_identify_s: float | None = None
        #: Seconds after which an interaction callback answers 404 "Unknown interaction" (Discord: 3s).
        self.callback_deadline = callback_deadline
        self.app_owner = self._new_user("twin-app-owner")
        #: Whether REST requests are held to Discord's rate limits (``ratelimits.py``); a 429 the twin sends on
        #: its own is recorded (``rate_limited``) and fails the test unless it is marked ``allow_429``.
        self.rate_limits = rate_limits
        #: Buckets and the global limit, counted on ``clock`` (epoch seconds; pass a ``FakeClock`` to step it).
        self.rate_limiter = RateLimiter(clock=clock)

        self._changed = asyncio.Event()
        self.gateway = Gateway(self)
        self.message_ops = MessageOps(self.world, self.gateway, base_url=lambda: self.base_url, notify=self.notify)
        self.interaction_ops = InteractionOps(self)
        self.rest = RestApi(self)

        #: every HTTP request the client made, in order
        self.requests: list[RecordedRequest] = []
        #: channel id -> messages the bot posted there (REST sends and channel webhook executions), with ``raw``
        self.messages = self.message_ops.bot_posts
        #: interaction id -> the bot's callbacks, followups and edits, in order
        self.interaction_responses = self.interaction_ops.responses
        #: ERROR records discord.py logged while ``run_client`` ran
        self.client_errors: list[logging.LogRecord] = []
        #: exceptions raised inside the twin's own REST handlers (answered with 400, code -1)
        self.server_errors: list[Exception] = []
        self._faults: list[Fault] = []
        self._watched: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        DiscordTwin.created.append(self)

    # ================================================================== lifecycle
    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordTwin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py at the twin; restores the originals on exit.

        ``discord.http.Route.BASE`` serves both the bot HTTP client and webhooks
        (``discord.webhook.async_``/``sync`` import the same ``Route`` class);
        ``DiscordWebSocket.DEFAULT_GATEWAY`` is used by ``Client.connect`` (only
        ``AutoShardedClient`` asks ``GET /gateway/bot``, which also answers with the twin).
        """
        if not self.port:
            raise RuntimeError("start() the twin before patching discord")
        route = discord.http.Route
        ws_cls = discord.gateway.DiscordWebSocket
        saved = (route.BASE, ws_cls.DEFAULT_GATEWAY)
        route.BASE = self.api_url
        ws_cls.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            route.BASE, ws_cls.DEFAULT_GATEWAY = saved

    # ===================================================================== world
    @property
    def bot_user(self) -> User:
        return self.world.bot_user

    @property
    def application_id(self) -> int:
        return self.world.application_id

    def _new_user(self, name: str, *, bot: bool = False, user_id: int | None = None) -> User:
        user = User(id=user_id or self.world.ids.next(), username=name, global_name=name.title(), bot=bot)
        self.world.users[user.id] = user
        return user

    def add_user(self, name: str = "alice", *, bot: bool = False, user_id: int | None = None) -> User:
        """A user who is not (yet) in any guild, e.g. for DMs."""
        return self._new_user(name, bot=bot, user_id=user_id)

    def add_guild(self, name: str = "Twin Guild", *, owner_id: int | None = None, shard: int | None = None) -> Guild:
        """A guild with an @everyone role, a managed bot role, the bot and an owner as members.

        With ``shards`` > 1 guilds take turns over the shards (their ids are spread like Discord's, whose shard is
        ``(id >> 22) % shards``), or land on ``shard`` when it is given.
        """
        world = self.world
        if shard is not None and not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} is outside 0-{self.shards - 1}")
        if owner_id is None:
            owner = self._new_user("owner")
        else:
            owner = world.users.get(owner_id) or self._new_user("owner", user_id=owner_id)
        if shard is None and self.shards > 1:
            shard = len(world.guilds) % self.shards
        guild_id = world.ids.next() if shard is None else world.ids.next_on_shard(shard, self.shards)
        guild = Guild(id=guild_id, name=name, owner_id=owner.id)
        world.guilds[guild.id] = guild
        everyone = Role(guild.id, guild.id, "@everyone", permission_value(DEFAULT_EVERYONE_PERMISSIONS))
        bot_role = Role(world.ids.next(), guild.id, self.bot_user.username, world.bot_permissions, 1, self.bot_user.id)
        for role in (everyone, bot_role):
            world.roles[role.id] = role
            guild.role_ids.append(role.id)
        guild.members[owner.id] = Member(owner.id, guild.id)
        guild.members[self.bot_user.id] = Member(self.bot_user.id, guild.id, [bot_role.id])
        for session in self.gateway.sessions_of(guild.id):
            self.gateway.enqueue("GUILD_CREATE", self._guild_create(guild, session, joined=True), only=session)
        return guild

    def shard_of(self, guild_id: int | None, shards: int | None = None) -> int:
        """The shard (of ``shards``, default the twin's count) that carries a guild's events; DMs: shard 0."""
        return shard_of(guild_id, shards or self.shards)

    def sessions_of_shard(self, shard_id: int) -> list[Session]:
        """The live sharded sessions that identified as ``shard_id``."""
        return [s for s in self.gateway.live_sessions if s.shard is not None and s.shard[0] == shard_id]

    def add_role(self, guild_id: int, name: str, *, permissions: Iterable[str] = ()) -> Role:
        guild = self.world.guilds[guild_id]
        role = Role(self.world.ids.next(), guild.id, name, permission_value(permissions), len(guild.role_ids))
        self.world.roles[role.id] = role
        guild.role_ids.append(role.id)
        self.gateway.enqueue(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": p.role_payload(role)}, intent=GUILDS
        )
        return role

    def _add_channel(self, channel: Channel, event: str) -> Channel:
        self.world.channels[channel.id] = channel
        if channel.guild_id is not None:
            guild = self.world.guilds[channel.guild_id]
            guild.channel_ids.append(channel.id)
            data = p.channel_payload(self.world, channel)
            if event == "THREAD_CREATE":
                data["newly_created"] = True
            self.gateway.enqueue(event, data, intent=GUILDS)
        return channel

    def add_category(self, guild_id: int, name: str = "Text Channels") -> Channel:
        guild = self.world.guilds[guild_id]
        channel = Channel(self.world.ids.next(), p.GUILD_CATEGORY, name, guild.id, position=len(guild.channel_ids))
        return self._add_channel(channel, "CHANNEL_CREATE")

    def add_text_channel(
        self, guild_id: int, name: str = "general", *, category_id: int | None = None, topic: str | None = None
    ) -> Channel:
        guild = self.world.guilds[guild_id]
        channel = Channel(
            self.world.ids.next(),
            p.GUILD_TEXT,
            name,
            guild.id,
            position=len(guild.channel_ids),
            parent_id=category_id,
            topic=topic,
        )
        if guild.system_channel_id is None:
            guild.system_channel_id = channel.id
        return self._add_channel(channel, "CHANNEL_CREATE")

    def add_thread(
        self,
        parent_id: int,
        name: str = "thread",
        *,
        owner_id: int | None = None,
        private: bool = False,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        parent = self.world.channel(parent_id)
        if parent.guild_id is None or parent.is_thread:
            raise ValueError("threads live in guild text channels")
        thread = Channel(
            thread_id or self.world.ids.next(),
            p.PRIVATE_THREAD if private else p.PUBLIC_THREAD,
            name,
            parent.guild_id,
            parent_id=parent.id,
            owner_id=owner_id or self.bot_user.id,
            auto_archive_duration=auto_archive_duration,
        )
        return self._add_channel(thread, "THREAD_CREATE")

    def add_dm_channel(self, user_id: int) -> Channel:
        """The DM channel between the bot and ``user_id`` (created once)."""
        user = self.world.user(user_id)
        for channel in self.world.channels.values():
            if channel.type == p.DM and channel.recipient_id == user.id:
                return channel
        return self._add_channel(Channel(self.world.ids.next(), p.DM, recipient_id=user.id), "CHANNEL_CREATE")

    def add_member(
        self,
        guild_id: int,
        user_id: int | None = None,
        name: str = "alice",
        *,
        manage_guild: bool = False,
        manage_messages: bool = False,
        administrator: bool = False,
        bot: bool = False,
        roles: Iterable[int] = (),
    ) -> User:
        """Add a member (creating the user unless ``user_id`` is known). Dispatches GUILD_MEMBER_ADD when connected.

        ``manage_guild``/``manage_messages``/``administrator`` give the member a role
        ("Managers"/"Moderators"/"Admins") carrying that permission.
        """
        guild = self.world.guilds[guild_id]
        user = self.world.users.get(user_id) if user_id is not None else None
        if user is None:
            user = self._new_user(name, bot=bot, user_id=user_id)
        role_ids = list(roles)
        for flag, wanted in (
            ("manage_guild", manage_guild),
            ("manage_messages", manage_messages),
            ("administrator", administrator),
        ):
            if wanted:
                role_ids.append(self._convenience_role(guild, flag))
        member = Member(user.id, guild.id, role_ids)
        guild.members[user.id] = member
        data = p.member_payload(member, user)
        data["guild_id"] = str(guild.id)
        self.gateway.enqueue("GUILD_MEMBER_ADD", data, intent=GUILD_MEMBERS)
        return user

    def _convenience_role(self, guild: Guild, flag: str) -> int:
        if flag not in guild.convenience_roles:
            name, perms = CONVENIENCE_ROLES[flag]
            guild.convenience_roles[flag] = self.add_role(guild.id, name, permissions=perms).id
        return guild.convenience_roles[flag]

    def set_permission_overwrite(
        self, channel_id: int, target_id: int, *, allow: Iterable[str] = (), deny: Iterable[str] = ()
    ) -> None:
        """Add to the overwrite for a role or member on a channel (dispatches CHANNEL_UPDATE)."""
        channel = self.world.channel(channel_id)
        if channel.guild_id is None or channel.is_thread:
            raise ValueError("overwrites live on guild channels (threads use their parent's)")
        kind = 0 if target_id in self.world.roles else 1
        ow = channel.overwrites.setdefault(target_id, Overwrite(target_id, kind))
        allow_bits, deny_bits = permission_value(allow), permission_value(deny)
        ow.allow = (ow.allow & ~deny_bits) | allow_bits
        ow.deny = (ow.deny & ~allow_bits) | deny_bits
        self.gateway.enqueue("CHANNEL_UPDATE", p.channel_payload(self.world, channel), intent=GUILDS)

    def deny_bot_permission(self, channel_id: int, permission_name: str) -> None:
        """Deny the bot one permission (e.g. ``"manage_webhooks"``) on a channel via a member overwrite."""
        self.set_permission_overwrite(channel_id, self.bot_user.id, deny=[permission_name])

    def permissions_for(self, channel_id: int, user_id: int) -> discord.Permissions:
        return discord.Permissions(self.world.permissions_for(channel_id, user_id))

    def delete_webhook(self, webhook_id: int) -> None:
        """Delete a channel webhook; later calls with it answer 404 ``Unknown Webhook`` (10015)."""
        webhook = self.world.webhooks[webhook_id]
        webhook.deleted = True
        self.gateway.enqueue(
            "WEBHOOKS_UPDATE", {"guild_id": str(webhook.guild_id), "channel_id": str(webhook.channel_id)}
        )

    def set_webhook_limit(self, channel_id: int, limit: int) -> None:
        """Beyond ``limit`` webhooks, ``POST /channels/{id}/webhooks`` answers 400 code 30007."""
        self.world.channel(channel_id).webhook_limit = limit

    def webhooks(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Payloads of the live webhooks (optionally of one channel), including their tokens."""
        return [
            p.webhook_payload(self.world, w)
            for w in self.world.webhooks.values()
            if not w.deleted and (channel_id is None or w.channel_id == channel_id)
        ]

    def history(self, channel_id: int) -> list[dict[str, Any]]:
        """Every visible message in a channel (users', the bot's, webhooks'), oldest first."""
        return [p.public_message(m) for m in self.world.channel_history(channel_id)]

    def attachment_bytes(self, attachment: Mapping[str, Any] | int) -> bytes:
        aid = int(attachment["id"]) if isinstance(attachment, Mapping) else int(attachment)
        return self.world.attachments[aid][1]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands the bot synced (global, or for one guild)."""
        if guild_id is None:
            return list(self.world.global_commands)
        return list(self.world.guild_commands.get(guild_id, []))

    # ============================================================ gateway payloads
    def ready_payload(self, session: Session, shard: list[int] | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v": 10,
            "user": p.client_user_payload(self.bot_user),
            "user_settings": {},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds if session.receives(g)],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["twin"],
            "application": {"id": str(self.application_id), "flags": self._app_flags()},
            "_trace": ["twin"],
        }
        if shard is not None:
            data["shard"] = shard
        return data

    def _app_flags(self) -> int:
        return PRIVILEGED_APP_FLAGS if self.privileged_intents else 0

    def _guild_create(self, guild: Guild, session: Session, *, joined: bool = False) -> dict[str, Any]:
        if session.intents & GUILD_MEMBERS:
            members = list(guild.members.values())
        else:  # without GUILD_MEMBERS Discord only sends the bot itself
            members = [guild.members[self.bot_user.id]]
        return p.guild_payload(self.world, guild, full=True, members=members, joined=joined)

    def guild_create_payloads(self, session: Session) -> list[dict[str, Any]]:
        return [self._guild_create(g, session) for g in self.world.guilds.values() if session.receives(g.id)]

    def member_chunk_payloads(self, session: Session, request: dict[str, Any]) -> list[dict[str, Any]]:
        guild = self.world.guilds.get(int(request.get("guild_id") or 0))
        if guild is None:
            return []
        query = (request.get("query") or "").lower()
        limit = request.get("limit") or 0
        wanted = {int(u) for u in request.get("user_ids") or []}
        members = []
        for member in guild.members.values():
            user = self.world.users[member.user_id]
            if wanted and user.id not in wanted:
                continue
            if query and not user.username.lower().startswith(query):
                continue
            members.append(p.member_payload(member, user))
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted if u not in guild.members],
        }
        if request.get("presences"):
            chunk["presences"] = []
        if request.get("nonce"):
            chunk["nonce"] = request["nonce"]
        return [chunk]

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": p.user_payload(self.app_owner),
            "team": None,
            "flags": self._app_flags(),
            "bot": p.user_payload(self.bot_user),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.world.guilds),
            "tags": [],
        }

    # ============================================================ change tracking
    def notify(self) -> None:
        """Wake every ``wait_until`` waiter (called on each request, frame and state change)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def watch(self, task: asyncio.Task[Any]) -> None:
        """Make waits fail fast with ``ClientCrashed`` if ``task`` (usually ``client.start()``) dies."""
        self._watched.append(task)
        task.add_done_callback(lambda _: self.notify())

    def _check_watched(self) -> None:
        for task in self._watched:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise ClientCrashed(f"client task died: {task.exception()!r}") from task.exception()

    async def wait_until(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, *, what: str = "condition"
    ) -> T:
        """Wait until ``predicate()`` returns something truthy, and return it.

        Re-checked on every twin event (request, frame, state change) and at least every 10ms,
        so predicates about the client's own state work too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._check_watched()
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TwinTimeout(f"timed out after {timeout}s waiting for {what}\n{self.describe()}")
            event = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.01))

    def describe(self) -> str:
        """A short report of what the twin saw (used in timeout messages)."""
        lines = ["recent requests:"]
        for req in self.requests[-10:]:
            lines.append(f"  {req.method} {req.path} -> {req.status}{' (unhandled)' if req.unhandled else ''}")
        unhandled = [f"{r.method} {r.path}" for r in self.requests if r.unhandled]
        if unhandled:
            lines.append(f"unhandled requests: {unhandled}")
        sessions = [
            f"{s.id[:8]}{f' shard={list(s.shard)}' if s.shard else ''} seq={s.seq} connected={s.conn is not None}"
            for s in self.gateway.live_sessions
        ]
        lines.append(f"gateway sessions: {sessions or 'none'}")
        for exc in self.server_errors[-3:]:
            lines.append("twin handler error:\n" + "".join(traceback.format_exception(exc)).rstrip())
        for record in self.client_errors[-3:]:
            lines.append(f"client logged: {record.getMessage()}")
            if record.exc_info and record.exc_info[1] is not None:
                lines.append("".join(traceback.format_exception(record.exc_info[1])).rstrip())
        return "\n".join(lines)

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,
        *,
        method: str | None = None,
        path: str | None = None,
        after: int = 0,
    ) -> RecordedRequest:
        """First recorded request (from index ``after``) matching ``method``, ``path`` (a regex, searched)
        and ``predicate``."""

        def match(req: RecordedRequest) -> bool:
            if method is not None and req.method != method.upper():
                return False
            if path is not None and not re.search(path, req.path):
                return False
            return predicate is None or predicate(req)

        return await self.wait_until(
            lambda: next((r for r in self.requests[after:] if match(r)), None),
            timeout,
            what=f"a request matching method={method} path={path} predicate={predicate}",
        )

    async def wait_for_messages(self, channel_id: int, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot posted at least ``count`` messages in the channel (sends and webhook executions).

        Returns all of the channel's bot messages so far (entries of ``messages[channel_id]``).
        """
        return await self.wait_until(
            lambda: list(self.messages[channel_id]) if len(self.messages[channel_id]) >= count else None,
            timeout,
            what=f"{count} bot message(s) in channel {channel_id}",
        )

    @property
    def gateway_frames(self) -> list[GatewayFrame]:
        return self.gateway.frames

    async def wait_for_gateway(
        self,
        *,
        direction: str | None = None,
        op: int | None = None,
        t: str | None = None,
        predicate: Callable[[GatewayFrame], bool] | None = None,
        after: int = 0,
        timeout: float = 5.0,
    ) -> GatewayFrame:
        """First gateway frame (from index ``after``) matching the filters (direction 'in' = from the client)."""

        def match(f: GatewayFrame) -> bool:
            return (
                (direction is None or f.direction == direction)
                and (op is None or f.op == op)
                and (t is None or f.t == t)
                and (predicate is None or predicate(f))
            )

        return await self.wait_until(
            lambda: next((f for f in self.gateway.frames[after:] if match(f)), None),
            timeout,
            what=f"gateway frame direction={direction} op={op} t={t}",
        )

    async def wait_for_ready(self, timeout: float = 5.0) -> Session:
        """Wait until some session got its READY and all GUILD_CREATEs written."""
        await self.wait_for_gateway(direction="out", t="READY", timeout=timeout)
        await self.gateway.flush()
        return self.gateway.live_sessions[-1]

    @property
    def rate_limited(self) -> list[RecordedRequest]:
        """Requests the twin answered 429 on its own (over a bucket or the global limit); ``fail_next`` ones are not."""
        return [r for r in self.requests if r.rate_limit_scope is not None]

    @property
    def unhandled_requests(self) -> list[RecordedRequest]:
        """Requests that fell through to the 404 catch-all."""
        return [r for r in self.requests if r.unhandled]

    # ===================================================================== faults
    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        path_contains: str | None = None,
        method: str | None = None,
        is_global: bool = False,
        code: int | None = None,
        message: str | None = None,
        hang: float = 0.0,
    ) -> None:
        """Answer the next ``count`` matching REST requests with an error (after ``hang`` seconds, if given).

        429s look like Discord's (JSON ``retry_after``/``global``, ``Via`` and ``X-RateLimit-*``
        headers), so discord.py sleeps ``retry_after`` and retries. Other statuses answer
        ``{"message", "code"}``; note discord.py retries 500/502/504 itself after 1s, 3s ...
        """
        self._faults.append(Fault(count, status, retry_after, path_contains, method, is_global, code, message, hang))

    async def drop_connection(
        self, code: int = 4000, *, replay_last: int = 0, wait: bool = True, timeout: float = 5.0
    ) -> None:
        """Close the gateway socket with ``code``; discord.py reconnects and RESUMEs.

        Dispatches not yet seen by the client are replayed on RESUME; ``replay_last`` also
        re-sends that many dispatches the client *had* seen (duplicate delivery). With
        ``wait`` returns once RESUMED was written.
        """
        mark = len(self.gateway.frames)
        sessions = await self.gateway.drop(code)
        if not sessions:
            raise RuntimeError("no connected gateway session to drop")
        for session in sessions:
            session.replay_duplicates = replay_last
        if wait:
            await self._wait_resumed(sessions, mark, timeout)

    @contextlib.asynccontextmanager
    async def disconnected(self, code: int = 4000, *, timeout: float = 5.0) -> AsyncIterator[None]:
        """Drop the socket and keep the client from reconnecting until the block exits.

        Events sent inside the block are buffered and replayed when the client RESUMEs.
        """
        mark = len(self.gateway.frames)
        self.gateway.hold.clear()
        try:
            sessions = await self.gateway.drop(code)
            if not sessions:
                raise RuntimeError("no connected gateway session to drop")
            yield
        finally:
            self.gateway.hold.set()
        await self._wait_resumed(sessions, mark, timeout)

    @contextlib.asynccontextmanager
    async def missing_heartbeat_acks(self, *, timeout: float = 10.0) -> AsyncIterator[list[Session]]:
        """Stop acknowledging heartbeats on the connected sockets: a zombied connection.

        Inside the block nothing reaches the client (events sent there are kept for RESUME). discord.py closes
        the socket once it has heard nothing for its ``heartbeat_timeout`` (``run_client(heartbeat_timeout=)``;
        set ``heartbeat_interval`` low before the client connects so it looks often), reconnects and RESUMEs
        on a new socket, which is served normally. On exit waits (up to ``timeout``) until RESUMED was written.
        """
        mark = len(self.gateway.frames)
        sessions = self.gateway.stop_heartbeat_acks()
        if not sessions:
            raise RuntimeError("no connected gateway session to stop acknowledging")
        yield sessions
        await self._wait_resumed(sessions, mark, timeout)

    async def _wait_resumed(self, sessions: list[Session], mark: int, timeout: float) -> None:
        ids = {s.id for s in sessions}

        def resumed() -> bool:
            done = {f.session_id for f in self.gateway.frames[mark:] if f.direction == "out" and f.t == "RESUMED"}
            return ids <= done

        await self.wait_until(resumed, timeout, what="the client to RESUME")

    async def request_reconnect(self, timeout: float = 5.0) -> None:
        """Send RECONNECT (op 7); the client closes and RESUMEs. Returns after RESUMED."""
        mark = len(self.gateway.frames)
        sessions = [s for s in self.gateway.live_sessions if s.conn is not None]
        await self.gateway.send_op(RECONNECT, None)
        await self._wait_resumed(sessions, mark, timeout)

    async def invalidate_session(self, *, resumable: bool = False, timeout: float = 10.0) -> None:
        """Send INVALID_SESSION (op 9). With ``resumable=False`` the client IDENTIFYs anew; returns after READY.

        Note: discord.py's ``Client.before_identify_hook`` sleeps 5s before every non-initial
        IDENTIFY; override it in the test client to skip the wait.
        """
        mark = len(self.gateway.frames)
        await self.gateway.send_op(INVALID_SESSION, resumable)
        if resumable:
            await self.wait_for_gateway(direction="out", t="RESUMED", after=mark, timeout=timeout)
        else:
            await self.wait_for_gateway(direction="out", t="READY", after=mark, timeout=timeout)

    # ============================================================== user events
    def _require_session(self) -> None:
        if not self.gateway.sessions:
            raise RuntimeError("no gateway session: is the client running (and ready)?")

    async def send_message(
        self,
        channel_id: int,
        author_id: int,
        content: str = "",
        *,
        mentions: Iterable[int] = (),
        referenced_message_id: int | None = None,
        webhook_id: int | None = None,
        author_bot: bool | None = None,
        attachments: Sequence[Upload] = (),
        embeds: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A user (or, with ``webhook_id``, a webhook) posts a message: stores it and dispatches MESSAGE_CREATE.

        ``<@id>``/``<@&id>``/``@everyone`` in ``content`` become mentions, plus ``mentions``.
        A reply (``referenced_message_id``) mentions the replied-to author. Returns the payload.
        """
        self._require_session()
        channel = self.world.channel(channel_id)
        user = self.world.user(author_id)
        guild = self.world.guild_of(channel)
        if guild is not None and webhook_id is None and user.id not in guild.members:
            raise ValueError(f"user {user.id} is not a member of guild {guild.id}")
        author = p.user_payload(user)
        if author_bot is not None:
            author["bot"] = author_bot
        if webhook_id is not None:
            author.update({"id": str(webhook_id), "discriminator": "0000", "bot": True})
        data: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if referenced_message_id is not None:
            data["message_reference"] = {"message_id": referenced_message_id, "fail_if_not_exists": True}
        files = [RecordedFile(f"files[{i}]", up.filename, up.content_type, up.data) for i, up in enumerate(attachments)]
        if attachments:
            data["attachments"] = [
                {"id": i, "filename": up.filename, **({"description": up.description} if up.description else {})}
                for i, up in enumerate(attachments)
            ]
        try:
            msg = self.message_ops.create(
                channel,
                author=author,
                member_id=None if webhook_id is not None else user.id,
                data=data,
                files=files,
                webhook_id=webhook_id,
                extra_mentions=mentions,
            )
        except ApiError as exc:
            raise ValueError(f"invalid message: {exc.body()}") from None
        await self.gateway.flush()
        return p.public_message(msg)

    async def edit_user_message(self, channel_id: int, message_id: int, content: str) -> dict[str, Any]:
        """A user edits their message: MESSAGE_UPDATE."""
        msg = self.world.messages[message_id]
        if int(msg["channel_id"]) != channel_id:
            raise ValueError("message is not in that channel")
        self.message_ops.edit(msg, {"content": content}, [])
        await self.gateway.flush()
        return p.public_message(msg)

    async def delete_user_message(self, channel_id: int, message_id: int) -> None:
        """A message disappears: MESSAGE_DELETE."""
        msg = self.world.messages[message_id]
        if int(msg["channel_id"]) != channel_id:
            raise ValueError("message is not in that channel")
        self.message_ops.delete(msg)
        await self.gateway.flush()

    async def add_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str) -> None:
        """A user reacts (``"👍"`` or ``"name:id"``): MESSAGE_REACTION_ADD."""
        msg = self.world.messages[message_id]
        if int(msg["channel_id"]) != channel_id:
            raise ValueError("message is not in that channel")
        self.message_ops.react(msg, self.world.user(user_id).id, p.parse_emoji(emoji), add=True)
        await self.gateway.flush()

    async def remove_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str) -> None:
        msg = self.world.messages[message_id]
        if int(msg["channel_id"]) != channel_id:
            raise ValueError("message is not in that channel")
        self.message_ops.react(msg, user_id, p.parse_emoji(emoji), add=False)
        await self.gateway.flush()

    # -------------------------------------------------------------- interactions

    async def send_slash_command(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        locale: str = "en-US",
    ) -> TwinInteraction:
        """A user runs a chat-input command the bot synced: INTERACTION_CREATE type 2.

        ``options`` maps option names to values; the twin types them from the synced schema:
        users/members, channels and roles may be given as ids or objects with ``.id`` (their
        ``resolved`` data is filled in), attachment options take an ``Upload``.
        """
        data = self.interaction_ops.command_data(channel_id, name, options, subcommand=subcommand, group=group)
        return await self.interaction_ops.create(APPLICATION_COMMAND, channel_id, user_id, data, locale=locale)

    async def send_autocomplete(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        subcommand: str | None = None,
        group: str | None = None,
    ) -> TwinInteraction:
        """A user is typing option ``focused``: INTERACTION_CREATE type 4; see ``.autocomplete_choices``."""
        data = self.interaction_ops.command_data(
            channel_id, name, options, subcommand=subcommand, group=group, focused=focused
        )
        return await self.interaction_ops.create(AUTOCOMPLETE, channel_id, user_id, data)

    async def send_context_menu(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        *,
        target_user_id: int | None = None,
        target_message_id: int | None = None,
    ) -> TwinInteraction:
        """A user/message context-menu command (type 2 / 3 application command)."""
        channel = self.world.channel(channel_id)
        guild = self.world.guild_of(channel)
        resolved: dict[str, Any] = {}
        if target_user_id is not None:
            cmd = self.interaction_ops.find_command(channel, name, 2)
            target = target_user_id
            self.interaction_ops.resolve_user(resolved, guild, target_user_id)
        elif target_message_id is not None:
            cmd = self.interaction_ops.find_command(channel, name, 3)
            target = target_message_id
            resolved["messages"] = {str(target): p.public_message(self.world.messages[target])}
        else:
            raise ValueError("target_user_id or target_message_id is required")
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": cmd["type"],
            "target_id": str(target),
            "resolved": resolved,
        }
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        return await self.interaction_ops.create(APPLICATION_COMMAND, channel_id, user_id, data)

    async def click_button(self, channel_id: int, user_id: int, message_id: int, custom_id: str) -> TwinInteraction:
        """A user clicks a button on a message: INTERACTION_CREATE type 3 (component)."""
        return await self._component_interaction(channel_id, user_id, message_id, custom_id, None)

    async def select_menu(
        self, channel_id: int, user_id: int, message_id: int, custom_id: str, values: Sequence[str]
    ) -> TwinInteraction:
        """A user picks ``values`` in a select menu on a message."""
        return await self._component_interaction(channel_id, user_id, message_id, custom_id, list(values))

    async def _component_interaction(
        self, channel_id: int, user_id: int, message_id: int, custom_id: str, values: list[str] | None
    ) -> TwinInteraction:
        msg = self.world.messages.get(message_id)
        if msg is None or int(msg["channel_id"]) != channel_id:
            raise LookupError(f"message {message_id} is not in channel {channel_id}")
        found = {c["custom_id"]: c for c in walk_components(msg.get("components") or []) if "custom_id" in c}
        if custom_id not in found:
            raise LookupError(f"message {message_id} has no component {custom_id!r}; it has {sorted(found)}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": found[custom_id]["type"]}
        if values is not None:
            data["values"] = values
        return await self.interaction_ops.create(MESSAGE_COMPONENT, channel_id, user_id, data, message=msg)

    async def submit_modal(
        self, interaction: TwinInteraction, values: Mapping[str, str], *, user_id: int | None = None
    ) -> TwinInteraction:
        """Submit the modal the bot opened in answer to ``interaction`` (INTERACTION_CREATE type 5)."""
        modal = interaction.record.modal
        if modal is None:
            raise LookupError(f"the bot did not answer interaction {interaction.id} with a modal")

        def mirror(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for comp in components:
                if comp["type"] == 1:
                    out.append({"type": 1, "components": mirror(comp.get("components") or [])})
                elif comp["type"] == 18:  # label wrapping one input
                    out.extend({"type": 18, "component": inner} for inner in mirror([comp["component"]]))
                elif comp["type"] == 4:
                    out.append({"type": 4, "custom_id": comp["custom_id"], "value": values.get(comp["custom_id"], "")})
            return out

        data = {"custom_id": modal["custom_id"], "components": mirror(modal.get("components") or [])}
        message = interaction.payload.get("message")
        stored = self.world.messages.get(int(message["id"])) if message else None
        return await self.interaction_ops.create(
            MODAL_SUBMIT, interaction.channel_id, user_id or interaction.user_id, data, message=stored
        )
