"""A loopback Discord for tests: REST v10 + gateway served on 127.0.0.1 for the *real* discord.py.

Quick start (pytest, ``asyncio_mode=auto``)::

    pytest_plugins = ["tests.twin.fixtures"]          # provides the ``twin`` fixture
    from tests.twin import run_client

    async def test_reply(twin):
        guild = twin.add_guild()
        general = twin.add_text_channel(guild.id)
        alice = twin.add_member(guild.id, name="alice")
        async with run_client(twin, MyBot()):
            await twin.send_message(general.id, alice.id, "hello")
            [reply] = await twin.wait_for_messages(general.id, 1)
            assert reply["raw"]["allowed_mentions"] == {"parse": []}

``DiscordTwin(*, token="twin-token", bot_user_id=None, application_id=None, bot_name="TwinBot",
bot_permissions=DEFAULT_BOT_PERMISSIONS, privileged_intents=True, heartbeat_interval=41250,
callback_deadline=3.0, rate_limits=True, clock=time.time, shards=1, max_concurrency=1, sharding_required=False)``

Lifecycle
    ``await start(port=0)``, ``await stop()`` (or ``async with DiscordTwin() as twin``);
    ``port``, ``base_url``, ``api_url``, ``gateway_url``; ``token``, ``bot_user``, ``application_id``.
    ``patch_discord()`` - context manager setting ``discord.http.Route.BASE`` (shared by the bot
    client and ``discord.webhook``) and ``DiscordWebSocket.DEFAULT_GATEWAY``, restored on exit.

World (sync; when a client is connected the matching gateway event is dispatched)
    ``add_guild(name="Twin Guild", *, owner_id=None, shard=None) -> Guild`` (roles @everyone + managed bot
    role; the bot and an owner are members; with ``shards`` > 1 guilds take turns over the shards, or land on
    ``shard``), ``add_role(guild_id, name, *, permissions=())``,
    ``add_category(guild_id, name)``, ``add_text_channel(guild_id, name="general", *,
    category_id=None, topic=None) -> Channel``, ``add_thread(parent_id, name="thread", *,
    owner_id=None, private=False) -> Channel``, ``add_dm_channel(user_id) -> Channel``,
    ``add_user(name, *, bot=False)``, ``add_member(guild_id, user_id=None, name="alice", *,
    manage_guild=False, manage_messages=False, administrator=False, bot=False, roles=()) -> User``,
    ``set_permission_overwrite(channel_id, target_id, *, allow=(), deny=())``,
    ``deny_bot_permission(channel_id, "manage_webhooks")``, ``permissions_for(channel_id, user_id)``,
    ``delete_webhook(webhook_id)``, ``set_webhook_limit(channel_id, limit)``, ``webhooks(channel_id)``,
    ``commands(guild_id=None)``, ``history(channel_id)``, ``attachment_bytes(attachment)``.
    Permission names are discord.py's (``discord.Permissions.VALID_FLAGS``).

Events pushed to the client (async; return once the frame is written)
    ``send_message(channel_id, author_id, content="", *, mentions=(), referenced_message_id=None,
    webhook_id=None, author_bot=None, attachments=(Upload, ...), embeds=()) -> dict``,
    ``edit_user_message``, ``delete_user_message``, ``add_reaction``/``remove_reaction(channel_id,
    message_id, user_id, emoji)``,
    ``send_slash_command(channel_id, user_id, name, options=None, *, subcommand=None, group=None)
    -> TwinInteraction`` (uses the ids/schema the bot synced; user/channel/role options take ids,
    attachment options an ``Upload``), ``send_autocomplete(..., focused=)``,
    ``send_context_menu(channel_id, user_id, name, *, target_user_id=/target_message_id=)``,
    ``click_button(channel_id, user_id, message_id, custom_id)``, ``select_menu(..., values)``,
    ``submit_modal(interaction, {custom_id: value})``.
    ``TwinInteraction``: ``id``, ``token``, ``payload``, ``responses``, ``await
    wait_for_responses(count)``, ``original_message``, ``followups``, ``modal``, ``autocomplete_choices``.

Recording and waiting
    ``requests: list[RecordedRequest]`` (method, path below /api/v10, query, json - the parsed
    ``payload_json`` for multipart -, files, headers, time, status, response, route, injected),
    ``unhandled_requests`` (hit the JSON 404 catch-all ``{"message": "404: Not Found", "code": 0}``),
    ``messages: dict[channel_id, list[dict]]`` - what the bot posted (REST sends and channel
    webhook executions) as full message payloads plus ``raw`` (the request payload as sent:
    username, avatar_url, embeds, allowed_mentions ...) and ``edits``,
    ``interaction_responses: dict[interaction_id, list[dict]]`` - entries ``{kind: callback |
    followup | edit_original | delete_original | edit_followup | delete_followup, type, data,
    flags, ephemeral, message, time}``, ``gateway_frames: list[GatewayFrame]`` (both directions),
    ``rate_limited`` (requests the twin answered 429 on its own, with ``rate_limit_scope``; each
    request also keeps its ``response_headers``),
    ``client_errors`` (ERROR logs of discord.py collected by ``run_client``), ``server_errors``
    (exceptions in the twin's own handlers; answered 400 code -1, and the ``twin`` fixture fails).
    ``wait_until(predicate, timeout)``, ``wait_for_request(predicate=None, timeout=5.0, *,
    method=None, path=None, after=0)``, ``wait_for_messages(channel_id, count, timeout=5.0)``,
    ``wait_for_gateway(*, direction=None, op=None, t=None, predicate=None, after=0)``,
    ``wait_for_ready()``. Timeouts raise ``TwinTimeout`` with a report (``describe()``); if the
    watched ``client.start()`` task dies they raise ``ClientCrashed``.

Sharding
    ``GET /gateway/bot`` answers ``shards`` and a ``session_start_limit`` (``max_concurrency``, ``remaining``
    counting IDENTIFYs). An IDENTIFY with ``shard: [id, n]`` gets a READY listing only that shard's guilds
    (``(guild_id >> 22) % n == id``) and their GUILD_CREATEs; every guild dispatch goes only to the sessions of
    the guild's shard, DMs to shard 0; a session without ``shard`` gets everything. A bad ``shard`` is closed with
    4010, a missing one with 4011 when ``sharding_required``. ``shard_of(guild_id)``, ``sessions_of_shard(id)``,
    ``Session.shard``/``Session.headers`` (the websocket upgrade's headers; every upgrade's in
    ``gateway.upgrades``); ``gateway.identify_violations`` lists IDENTIFYs sooner than 5 s after the last of their
    bucket (``shard_id % max_concurrency``); none are refused.

Rate limits (``ratelimits``; on unless ``rate_limits=False``)
    Discord's per-route buckets (5 messages per 5 s per channel, 5 per 2 s per webhook and token, reactions 1 per
    0.25 s per channel ...; keyed by route and channel/guild/webhook id) and the global limit (50 requests per second
    per token; interaction endpoints are exempt), with the real ``X-RateLimit-*`` headers; over a limit: 429 with
    ``retry_after`` and ``global``. Counted on ``clock`` (a ``tests.clock.FakeClock`` makes windows step only when
    the test advances it). The autouse fixture ``no_rate_limited_requests`` fails a test whose twins answered
    429 on their own, unless the test is marked ``@pytest.mark.allow_429``; ``fail_next`` 429s never count.

Faults
    ``fail_next(count=1, *, status=429, retry_after=0.05, path_contains=None, method=None,
    is_global=False, code=None, message=None)``; ``await drop_connection(code=4000, *,
    replay_last=0, wait=True)`` (client RESUMEs, unseen dispatches are replayed; ``replay_last``
    re-delivers already-seen ones); ``async with disconnected(): ...`` (events sent inside are
    buffered until the client resumes); ``request_reconnect()``; ``invalidate_session(resumable=False)``;
    ``async with missing_heartbeat_acks(): ...`` (a zombied connection: no HEARTBEAT_ACK and nothing written; the
    client closes it after ``run_client(heartbeat_timeout=)`` seconds of silence and RESUMEs, and what it missed is
    replayed; set ``twin.heartbeat_interval`` low before the client connects).

Modules: ``server`` (DiscordTwin), ``state`` (world model, permissions), ``payloads`` (Discord
JSON shapes), ``rest`` (router, recording, faults, validation), ``gateway`` (sessions, sequence
numbers, RESUME), ``ratelimits`` (buckets, global limit), ``messages`` / ``interactions`` (shared machinery),
``fixtures`` (pytest).

Behaviour worth knowing: responses are ``Content-Type: application/json`` exactly; the
bot's own messages come back as MESSAGE_CREATE like on Discord; without the MESSAGE_CONTENT
intent guild messages arrive with empty content unless they mention the bot; without
GUILD_MEMBERS, GUILD_CREATE only lists the bot; the first followup after a thinking
``defer()`` completes the deferred message; interaction callbacks later than
``callback_deadline`` answer 404 10062; webhook names containing "discord"/"clyde" are rejected.
"""

import pytest

# The fixtures module is also loaded as a pytest plugin; let pytest's import hook own the
# package so it is not reported as "already imported, cannot be rewritten".
pytest.register_assert_rewrite(f"{__name__}.fixtures")

from .fixtures import run_client  # noqa: E402
from .gateway import GatewayFrame  # noqa: E402
from .interactions import TwinInteraction  # noqa: E402
from .rest import RecordedFile, RecordedRequest  # noqa: E402
from .server import ClientCrashed, DiscordTwin, TwinTimeout  # noqa: E402
from .state import Channel, Guild, Role, Upload, User  # noqa: E402

__all__ = [
    "Channel",
    "ClientCrashed",
    "DiscordTwin",
    "GatewayFrame",
    "Guild",
    "RecordedFile",
    "RecordedRequest",
    "Role",
    "TwinInteraction",
    "TwinTimeout",
    "Upload",
    "User",
    "run_client",
]
