"""The twin as a sharded Discord, driven by discord.py's own ``AutoShardedClient``: ``GET /gateway/bot``, IDENTIFY
with ``shard``, READY and GUILD_CREATE per shard, dispatches routed to the session of the guild's shard."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.twin import DiscordTwin, run_client
from tests.twin.gateway import HELLO, IDENTIFY, Session

pytest_plugins = ["tests.twin.fixtures"]

GUILDS = 12


def intents() -> discord.Intents:
    value = discord.Intents.default()
    value.message_content = True
    return value


class ShardedRecorder(discord.AutoShardedClient):
    """Records each message it receives with the shard it came on, and has one slash command."""

    def __init__(self, **options: Any) -> None:
        super().__init__(intents=intents(), **options)
        self.received: list[tuple[int, int | None]] = []
        """(message id, shard id) of every user message received."""
        self.commands_run: list[tuple[int | None, int | None]] = []
        """(guild id, shard id) of every /where run."""
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="where", description="Which shard answers")
        async def where(interaction: discord.Interaction) -> None:
            shard = interaction.guild.shard_id if interaction.guild is not None else None
            self.commands_run.append((interaction.guild_id, shard))
            await interaction.response.send_message(f"shard {shard}")

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s before every IDENTIFY but the first; the twin says how many buckets there are

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.received.append((message.id, message.guild.shard_id if message.guild is not None else None))


def build(twin: DiscordTwin, guilds: int = GUILDS) -> list[tuple[int, int, int]]:
    """``guilds`` guilds with a channel and a member each: (guild id, channel id, member id)."""
    world = []
    for number in range(guilds):
        guild = twin.add_guild(f"guild-{number}")
        channel = twin.add_text_channel(guild.id)
        member = twin.add_member(guild.id, name=f"user{number}")
        world.append((guild.id, channel.id, member.id))
    return world


def delivered_to(twin: DiscordTwin, event: str, object_id: int) -> list[Session]:
    """The sessions the twin wrote dispatch ``event`` of ``object_id`` to."""
    by_id = {s.id: s for s in twin.gateway.live_sessions}
    return [
        by_id[f.session_id]
        for f in twin.gateway_frames
        if f.direction == "out" and f.t == event and f.session_id in by_id and int(f.d["id"]) == object_id
    ]


async def test_gateway_bot_gives_the_shard_count_and_the_session_start_limit() -> None:
    async with DiscordTwin(shards=4, max_concurrency=2) as twin:
        headers = {"Authorization": f"Bot {twin.token}"}
        async with aiohttp.ClientSession() as http, http.get(f"{twin.api_url}/gateway/bot", headers=headers) as reply:
            body = await reply.json()
        assert body["url"] == twin.gateway_url
        assert body["shards"] == 4
        assert body["session_start_limit"] == {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 14400000,
            "max_concurrency": 2,
        }

        client = ShardedRecorder()  # no shard count: it asks GET /gateway/bot
        async with run_client(twin, client):
            assert client.shard_count == 4
            identified = [f.d["shard"] for f in twin.gateway_frames if f.direction == "in" and f.op == IDENTIFY]
            assert sorted(identified) == [[0, 4], [1, 4], [2, 4], [3, 4]]
            async with aiohttp.ClientSession() as http, http.get(f"{twin.api_url}/gateway/bot", headers=headers) as r:
                assert (await r.json())["session_start_limit"]["remaining"] == 996


async def test_each_shard_gets_only_its_guilds_in_ready_and_guild_create() -> None:
    async with DiscordTwin(shards=4, max_concurrency=4) as twin:
        world = build(twin)
        by_shard = Counter(twin.shard_of(guild_id) for guild_id, _, _ in world)
        assert by_shard == {0: 3, 1: 3, 2: 3, 3: 3}, "the twin spreads guilds over the shards"

        client = ShardedRecorder()
        async with run_client(twin, client):
            assert {g.id for g in client.guilds} == {guild_id for guild_id, _, _ in world}
            for guild in client.guilds:
                assert guild.shard_id == twin.shard_of(guild.id)
            for shard_id in range(4):
                [session] = twin.sessions_of_shard(shard_id)
                assert session.shard == (shard_id, 4)
                frames = [f for f in twin.gateway_frames if f.direction == "out" and f.session_id == session.id]
                [ready] = [f.d for f in frames if f.t == "READY"]
                assert ready["shard"] == [shard_id, 4]
                mine = {guild_id for guild_id, _, _ in world if twin.shard_of(guild_id) == shard_id}
                assert {int(g["id"]) for g in ready["guilds"]} == mine
                assert {int(f.d["id"]) for f in frames if f.t == "GUILD_CREATE"} == mine

            # a guild the bot joins now comes on its shard only
            joined = twin.add_guild("joined later", shard=2)
            await twin.wait_until(lambda: client.get_guild(joined.id) is not None)
            assert [s.shard for s in delivered_to(twin, "GUILD_CREATE", joined.id)] == [(2, 4)]


async def test_messages_and_interactions_reach_only_the_session_of_their_guilds_shard() -> None:
    async with DiscordTwin(shards=4, max_concurrency=4) as twin:
        world = build(twin)
        loner = twin.add_user("dm-user")
        client = ShardedRecorder()
        async with run_client(twin, client):
            sent = {}
            for guild_id, channel_id, member_id in world:
                message = await twin.send_message(channel_id, member_id, "hello")
                sent[int(message["id"])] = twin.shard_of(guild_id)
            dm = twin.add_dm_channel(loner.id)
            direct = await twin.send_message(dm.id, loner.id, "hello in private")
            await twin.wait_until(lambda: len(client.received) == len(sent) + 1)

            assert sorted(client.received) == sorted([*sent.items(), (int(direct["id"]), None)])
            for message_id, shard_id in sent.items():
                assert [s.shard for s in delivered_to(twin, "MESSAGE_CREATE", message_id)] == [(shard_id, 4)]
            assert [s.shard for s in delivered_to(twin, "MESSAGE_CREATE", int(direct["id"]))] == [(0, 4)]

            for guild_id, channel_id, member_id in world[:4]:
                interaction = await twin.send_slash_command(channel_id, member_id, "where")
                [response] = await interaction.wait_for_responses(1)
                shard_id = twin.shard_of(guild_id)
                assert response["data"]["content"] == f"shard {shard_id}"
                assert [s.shard for s in delivered_to(twin, "INTERACTION_CREATE", interaction.id)] == [(shard_id, 4)]
            assert twin.gateway.identify_violations == []


async def test_a_process_running_some_shards_gets_only_their_guilds_and_events() -> None:
    async with DiscordTwin(shards=4, max_concurrency=4) as twin:
        world = build(twin)
        client = ShardedRecorder(shard_count=4, shard_ids=[2, 3])
        async with run_client(twin, client):
            theirs = {guild_id for guild_id, _, _ in world if twin.shard_of(guild_id) in (2, 3)}
            assert {g.id for g in client.guilds} == theirs
            delivered = []
            for guild_id, channel_id, member_id in world:
                before = len(twin.gateway_frames)
                message = await twin.send_message(channel_id, member_id, "hello")
                out = [f for f in twin.gateway_frames[before:] if f.direction == "out" and f.t == "MESSAGE_CREATE"]
                delivered.append((guild_id in theirs, len(out)))
                if guild_id in theirs:
                    assert [s.shard for s in delivered_to(twin, "MESSAGE_CREATE", int(message["id"]))] in (
                        [(2, 4)],
                        [(3, 4)],
                    )
            assert delivered == [(mine, 1 if mine else 0) for mine, _ in delivered]
            await twin.wait_until(lambda: len(client.received) == len(theirs))


async def test_identifies_faster_than_the_buckets_allow_are_counted() -> None:
    async with DiscordTwin(shards=4, max_concurrency=2) as twin:
        build(twin, 4)
        async with run_client(twin, ShardedRecorder()):  # four shards at once on two buckets
            violations = twin.gateway.identify_violations
            assert sorted(v.bucket for v in violations) == [0, 1]
            assert all(v.seconds_since_last < 5 for v in violations)


async def identify_raw(twin: DiscordTwin, shard: Any) -> int | None:
    """Connect a bare websocket, IDENTIFY with ``shard`` (left out when None) and return the close code."""
    async with aiohttp.ClientSession() as http, http.ws_connect(twin.gateway_url) as ws:
        hello = json.loads((await ws.receive()).data)
        assert hello["op"] == HELLO
        identify: dict[str, Any] = {"token": twin.token, "intents": 513, "properties": {}}
        if shard is not None:
            identify["shard"] = shard
        await ws.send_str(json.dumps({"op": IDENTIFY, "d": identify}))
        message = await ws.receive(timeout=5)
        if message.type is aiohttp.WSMsgType.TEXT:
            return None
        return ws.close_code


@pytest.mark.parametrize("shard", [[4, 4], [-1, 4], [0, 0], [1], "0"])
async def test_an_invalid_shard_is_closed_with_4010(shard: Any) -> None:
    async with DiscordTwin(shards=4) as twin:
        assert await identify_raw(twin, shard) == 4010
        assert twin.gateway.sessions == {}


async def test_sharding_required_closes_an_unsharded_identify_with_4011() -> None:
    async with DiscordTwin(shards=4, sharding_required=True) as twin:
        assert await identify_raw(twin, None) == 4011
        assert await identify_raw(twin, [0, 4]) is None  # READY


async def test_an_unsharded_session_still_gets_every_guild() -> None:
    async with DiscordTwin(shards=4) as twin:
        world = build(twin, 4)
        client = discord.Client(intents=intents())
        async with run_client(twin, client):
            assert {g.id for g in client.guilds} == {guild_id for guild_id, _, _ in world}
            [session] = twin.gateway.live_sessions
            assert session.shard is None
            for _guild_id, channel_id, member_id in world:
                message = await twin.send_message(channel_id, member_id, "hello")
                assert delivered_to(twin, "MESSAGE_CREATE", int(message["id"])) == [session]


async def test_a_new_process_takes_over_only_the_dead_sessions_of_its_own_shard() -> None:
    async with DiscordTwin(shards=2) as twin:
        twin.replay_on_identify_s = 5.0
        world = build(twin, 4)
        async with aiohttp.ClientSession() as http:
            sockets = []
            for shard_id in (0, 1):
                ws = await http.ws_connect(twin.gateway_url)
                await ws.receive()  # HELLO
                identify = {"token": twin.token, "intents": 513 | (1 << 15), "properties": {}, "shard": [shard_id, 2]}
                await ws.send_str(json.dumps({"op": IDENTIFY, "d": identify}))
                sockets.append(ws)
            await twin.wait_until(lambda: len(twin.gateway.live_sessions) == 2 and twin.gateway.connected)
            await twin.gateway.flush()
            for ws in sockets:
                await ws.close(code=4000)  # not a clean close: the sessions stay, as for a killed process
            await twin.wait_until(lambda: not twin.gateway.connected)
            sent = {}
            for guild_id, channel_id, member_id in world:  # buffered for the dead sessions of their shards
                sent[int((await twin.send_message(channel_id, member_id, "while down"))["id"])] = guild_id

            dead = {s.id for s in twin.gateway.live_sessions}
            ws = await http.ws_connect(twin.gateway_url)  # shard 1 comes back in a new process
            await ws.receive()
            identify = {"token": twin.token, "intents": 513 | (1 << 15), "properties": {}, "shard": [1, 2]}
            await ws.send_str(json.dumps({"op": IDENTIFY, "d": identify}))

            def new_session() -> Session | None:
                return next((s for s in twin.sessions_of_shard(1) if s.id not in dead), None)

            session = await twin.wait_until(new_session)
            await twin.gateway.flush()
            replayed = {int(f["d"]["id"]) for f in session.history if f["t"] == "MESSAGE_CREATE"}
            assert replayed == {m for m, g in sent.items() if twin.shard_of(g) == 1}
            assert [s.shard for s in twin.gateway.live_sessions] == [(0, 2), (1, 2)], "shard 1's dead session is gone"
            assert twin.sessions_of_shard(0)[0].id in dead, "shard 0's dead session waits for its own process"
            await ws.close()
