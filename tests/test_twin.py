"""Tests of the Discord twin, driven by the real (unmodified) discord.py client."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import discord.webhook.async_
import pytest
from discord import app_commands
from discord.ext import commands

from tests.twin import DiscordTwin, Upload, run_client
from tests.twin.gateway import HEARTBEAT, HEARTBEAT_ACK, IDENTIFY, RESUME

pytest_plugins = ["tests.twin.fixtures"]


def intents() -> discord.Intents:
    value = discord.Intents.default()
    value.members = True
    value.message_content = True
    return value


def guild_of(client: discord.Client, guild_id: int) -> discord.Guild:
    guild = client.get_guild(guild_id)
    assert guild is not None
    return guild


def text_channel(client: discord.Client, channel_id: int) -> discord.TextChannel:
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


class Recorder(discord.Client):
    """Records the messages it receives and answers "ping" without pinging anyone."""

    def __init__(self, *, client_intents: discord.Intents | None = None) -> None:
        super().__init__(intents=client_intents or intents())
        self.received: list[discord.Message] = []
        self.resumed = asyncio.Event()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.received.append(message)
        if message.content == "ping":
            await message.channel.send(
                f"pong {message.author.mention}", allowed_mentions=discord.AllowedMentions.none()
            )

    async def on_resumed(self) -> None:
        self.resumed.set()


def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Skynet Resistance")
    general = twin.add_text_channel(guild.id, "general", topic="Resistance")
    stories = twin.add_text_channel(guild.id, "stories")
    thread = twin.add_thread(stories.id, "Judgment Day")
    alice = twin.add_member(guild.id, name="alice")
    bob = twin.add_member(guild.id, name="bob", manage_guild=True)
    return {"guild": guild, "general": general, "stories": stories, "thread": thread, "alice": alice, "bob": bob}


async def test_bad_token_raises_login_failure(twin: DiscordTwin) -> None:
    twin.add_guild()
    with pytest.raises(discord.LoginFailure):
        async with run_client(twin, discord.Client(intents=intents()), "not-the-token"):
            pytest.fail("the client must not become ready")
    [login] = twin.requests
    assert (login.method, login.path, login.status) == ("GET", "/users/@me", 401)
    assert login.headers["Authorization"] == "Bot not-the-token"
    assert login.response == {"message": "401: Unauthorized", "code": 0}
    assert twin.gateway_frames == []
    assert discord.http.Route.BASE == "https://discord.com/api/v10"  # patch_discord() restored it


async def test_ready_populates_cache(twin: DiscordTwin) -> None:
    w = world(twin)
    client = Recorder()
    async with run_client(twin, client):
        guild = guild_of(client, w["guild"].id)
        assert guild.name == "Skynet Resistance" and not guild.unavailable
        assert [c.name for c in guild.text_channels] == ["general", "stories"]
        assert text_channel(client, w["general"].id).topic == "Resistance"
        thread = guild.get_thread(w["thread"].id)
        assert thread is not None and thread.parent_id == w["stories"].id
        assert {m.name for m in guild.members} == {"alice", "bob", "owner", "TwinBot"}
        assert guild.member_count == len(twin.world.guilds[guild.id].members) == len(guild.members) == 4
        assert guild.chunked and guild.owner_id == w["guild"].owner_id
        assert guild.me.guild_permissions.manage_webhooks
        bob, alice = guild.get_member(w["bob"].id), guild.get_member(w["alice"].id)
        assert bob is not None and bob.guild_permissions.manage_guild
        assert alice is not None and not alice.guild_permissions.manage_guild
        assert client.user is not None and client.user.id == twin.bot_user.id
        assert client.application_id == twin.application_id

        identify = await twin.wait_for_gateway(direction="in", op=IDENTIFY)
        assert identify.d["intents"] == intents().value and identify.d["token"] == twin.token
        ready = await twin.wait_for_gateway(t="READY")
        assert ready.s == 1 and ready.d["resume_gateway_url"] == twin.gateway_url
        assert ready.d["guilds"] == [{"id": str(guild.id), "unavailable": True}]
        assert [f.s for f in twin.gateway_frames if f.t == "GUILD_CREATE"] == [2]
        assert str(client.ws.gateway) == twin.gateway_url
        heartbeat = await twin.wait_for_gateway(direction="in", op=HEARTBEAT)  # sent right after HELLO
        await twin.wait_for_gateway(direction="out", op=HEARTBEAT_ACK, after=twin.gateway_frames.index(heartbeat))
        # A plain Client goes straight to DEFAULT_GATEWAY: no GET /gateway (only AutoSharded asks /gateway/bot).
        assert [(r.method, r.path) for r in twin.requests] == [
            ("GET", "/users/@me"),
            ("GET", "/oauth2/applications/@me"),
        ]

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{twin.api_url}/users/@me", headers={"Authorization": f"Bot {twin.token}"}) as resp:
                assert resp.headers["Content-Type"] == "application/json"  # exactly: see http.json_or_text
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY.host == "gateway.discord.gg"


async def test_message_create_reaches_on_message_and_reply_is_recorded(twin: DiscordTwin) -> None:
    w = world(twin)
    client = Recorder()
    async with run_client(twin, client):
        sent = await twin.send_message(w["general"].id, w["alice"].id, "ping")
        [reply] = await twin.wait_for_messages(w["general"].id, 1)

        [received] = client.received
        assert received.id == int(sent["id"]) and received.content == "ping"
        assert isinstance(received.author, discord.Member) and received.author.id == w["alice"].id

        post = await twin.wait_for_request(method="POST", path=rf"^/channels/{w['general'].id}/messages$")
        assert post.json == {
            "content": f"pong <@{w['alice'].id}>",
            "tts": False,
            "allowed_mentions": {"parse": []},
            "components": [],
            "nonce": reply["nonce"],  # discord.py 2.7 always sends a random nonce ...
            "enforce_nonce": True,  # ... which Discord (and the twin) use to de-duplicate retries
        }
        assert reply["raw"]["allowed_mentions"] == {"parse": []}
        assert reply["content"] == f"pong <@{w['alice'].id}>"
        assert reply["mentions"] == []  # nobody was pinged
        assert reply["author"]["id"] == str(twin.bot_user.id)
        assert int(reply["id"]) > int(sent["id"])  # snowflakes increase with time
        # The bot's own message comes back over the gateway, as on Discord (and is ignored by the bot).
        echo = await twin.wait_for_gateway(t="MESSAGE_CREATE", predicate=lambda f: f.d["id"] == reply["id"])
        assert echo.d["content"] == reply["content"] and len(client.received) == 1


async def test_rate_limited_send_is_retried_once(twin: DiscordTwin) -> None:
    w = world(twin)
    twin.fail_next(1, status=429, retry_after=0.05, path_contains="/messages", method="POST")
    async with run_client(twin, Recorder()):
        await twin.send_message(w["general"].id, w["alice"].id, "ping")
        await twin.wait_for_messages(w["general"].id, 1)
        posts = [r for r in twin.requests if r.method == "POST" and r.path.endswith("/messages")]
        assert [(r.status, r.injected) for r in posts] == [(429, True), (200, False)]
        assert posts[0].response == {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
        assert posts[1].time - posts[0].time >= 0.05
        assert len(twin.messages[w["general"].id]) == 1


async def test_drop_connection_resumes_and_replays(twin: DiscordTwin) -> None:
    w = world(twin)
    client = Recorder()
    general, alice = w["general"].id, w["alice"].id
    async with run_client(twin, client):
        first = await twin.send_message(general, alice, "before the drop")
        await twin.wait_until(lambda: len(client.received) == 1)
        session_id, last_seq = client.ws.session_id, client.ws.sequence

        async with twin.disconnected():  # the client cannot reconnect until the block ends
            missed = await twin.send_message(general, alice, "while disconnected")
        await asyncio.wait_for(client.resumed.wait(), 5)
        await twin.wait_until(lambda: len(client.received) == 2)
        assert [m.content for m in client.received] == ["before the drop", "while disconnected"]

        [resume] = [f for f in twin.gateway_frames if f.direction == "in" and f.op == RESUME]
        assert resume.d == {"seq": last_seq, "session_id": session_id, "token": twin.token}
        assert len([f for f in twin.gateway_frames if f.direction == "in" and f.op == IDENTIFY]) == 1
        replayed = next(f for f in twin.gateway_frames if f.t == "MESSAGE_CREATE" and f.d["id"] == missed["id"])
        resumed = next(f for f in twin.gateway_frames if f.t == "RESUMED")
        assert last_seq is not None and last_seq < replayed.s < resumed.s  # type: ignore[operator]
        assert replayed.session_id == resumed.session_id == session_id
        assert client.ws.sequence == resumed.s

        # A plain drop with duplicate delivery: the last MESSAGE_CREATE the client saw arrives again.
        client.resumed.clear()
        await twin.drop_connection(4000, replay_last=1)
        await twin.wait_until(lambda: len(client.received) == 3)
        assert client.received[2].id == int(missed["id"]) != int(first["id"])
        assert client.resumed.is_set() and client.ws.session_id == session_id


class QuickReidentify(Recorder):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py sleeps 5s here before every IDENTIFY but the first


async def test_reconnect_request_and_invalid_session(twin: DiscordTwin) -> None:
    w = world(twin)
    client = QuickReidentify()
    async with run_client(twin, client):
        old_session = client.ws.session_id
        await twin.request_reconnect()  # op 7: close and RESUME the same session
        assert client.ws.session_id == old_session
        await twin.invalidate_session(resumable=False)  # op 9 false: IDENTIFY a new session
        assert client.ws.session_id != old_session
        assert len([f for f in twin.gateway_frames if f.direction == "in" and f.op == IDENTIFY]) == 2
        await twin.wait_until(client.is_ready)
        await twin.send_message(w["general"].id, w["alice"].id, "still there?")
        await twin.wait_until(lambda: [m.content for m in client.received] == ["still there?"])


async def test_webhooks_create_execute_thread_and_delete(twin: DiscordTwin) -> None:
    w = world(twin)
    client = Recorder()
    assert vars(discord.webhook.async_)["Route"] is discord.http.Route  # one Route.BASE: bot HTTP and webhooks
    async with run_client(twin, client):
        stories = text_channel(client, w["stories"].id)
        thread = stories.get_thread(w["thread"].id)
        assert thread is not None
        hook = await stories.create_webhook(name="Personas")
        assert hook.token and hook.channel_id == stories.id
        assert hook.user is not None and hook.user.id == twin.bot_user.id

        msg = await hook.send("Stay close.", username="T-800", avatar_url="https://example.com/t800.png", wait=True)
        assert msg.author.name == "T-800" and msg.webhook_id == hook.id and msg.channel.id == stories.id
        in_thread = await hook.send("Stay low.", username="Sarah Connor", thread=thread, wait=True)
        assert in_thread.channel.id == thread.id

        [top] = twin.messages[stories.id]
        assert top["raw"] == {
            "content": "Stay close.",
            "tts": False,
            "username": "T-800",
            "avatar_url": "https://example.com/t800.png",
        }
        assert top["author"]["username"] == "T-800" and top["webhook_id"] == str(hook.id)
        [threaded] = twin.messages[thread.id]
        assert threaded["raw"]["username"] == "Sarah Connor" and threaded["channel_id"] == str(thread.id)
        execute = await twin.wait_for_request(
            method="POST", path=f"^/webhooks/{hook.id}/", predicate=lambda r: "thread_id" in r.query
        )
        assert execute.query == {"wait": "1", "with_components": "0", "thread_id": str(thread.id)}

        # Webhook.url says discord.com, but every request goes through Route.BASE, i.e. the twin.
        again = discord.Webhook.from_url(hook.url, client=client)
        await again.send("Follow me.", username="Resistance Fighter")
        assert [m["author"]["username"] for m in twin.messages[stories.id]] == ["T-800", "Resistance Fighter"]
        assert [h.id for h in await stories.webhooks()] == [hook.id]

        twin.delete_webhook(hook.id)
        with pytest.raises(discord.NotFound) as not_found:
            await hook.send("Goodbye", username="T-800")
        assert not_found.value.code == 10015 and not_found.value.text == "Unknown Webhook"

        twin.set_webhook_limit(stories.id, 1)
        await stories.create_webhook(name="one")
        with pytest.raises(discord.HTTPException) as limited:
            await stories.create_webhook(name="two")
        assert limited.value.status == 400 and limited.value.code == 30007


async def test_denied_manage_webhooks_is_forbidden(twin: DiscordTwin) -> None:
    w = world(twin)
    twin.deny_bot_permission(w["general"].id, "manage_webhooks")
    client = Recorder()
    async with run_client(twin, client):
        general = text_channel(client, w["general"].id)
        assert not general.permissions_for(general.guild.me).manage_webhooks  # the client's cache agrees
        with pytest.raises(discord.Forbidden) as err:
            await general.create_webhook(name="nope")
        assert err.value.code == 50013 and err.value.text == "Missing Permissions"
        assert twin.webhooks(general.id) == []
        await text_channel(client, w["stories"].id).create_webhook(name="fine elsewhere")


class TriviaView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Sarah", custom_id="trivia:answer:sarah")
    async def sarah(self, interaction: discord.Interaction, button: discord.ui.Button[TriviaView]) -> None:
        await interaction.response.send_message(f"{interaction.user.name} picked {button.label}", ephemeral=True)


class CompanionBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=intents())
        self.synced: list[app_commands.AppCommand] = []

        @self.tree.command(description="Ping with a followup")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)
            await interaction.followup.send("and a followup")

        @self.tree.command(description="Think first")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("done thinking")

        @self.tree.command(description="Admin only")
        async def reset(interaction: discord.Interaction) -> None:
            allowed = interaction.permissions.manage_guild
            await interaction.response.send_message("reset!" if allowed else "denied", ephemeral=not allowed)

        story = app_commands.Group(name="story", description="Group stories")

        @story.command(description="Start a story")
        @app_commands.describe(topic="What it is about", narrator="Who tells it")
        async def start(interaction: discord.Interaction, topic: str, narrator: discord.Member | None = None) -> None:
            who = narrator.name if narrator else "nobody"
            await interaction.response.send_message(f"{topic} told by {who}")

        self.tree.add_command(story)

    async def setup_hook(self) -> None:
        self.add_view(TriviaView())  # persistent: dispatched by custom_id alone
        self.synced = await self.tree.sync()


async def test_slash_commands_components_and_followups(twin: DiscordTwin) -> None:
    w = world(twin)
    general, alice, bob = w["general"].id, w["alice"].id, w["bob"].id
    bot = CompanionBot()
    async with run_client(twin, bot):
        put = await twin.wait_for_request(method="PUT", path=rf"^/applications/{twin.application_id}/commands$")
        assert sorted(c["name"] for c in put.json) == ["ping", "reset", "slow", "story"]
        assert {c.name: c.id for c in bot.synced} == {c["name"]: int(c["id"]) for c in twin.commands()}

        ping = await twin.send_slash_command(general, alice, "ping")
        callback, followup = await ping.wait_for_responses(2)
        assert (callback["kind"], callback["type"], callback["flags"], callback["ephemeral"]) == (
            "callback",
            4,
            64,
            True,
        )
        assert callback["message"]["content"] == "pong"
        assert (followup["kind"], followup["ephemeral"]) == ("followup", False)
        assert followup["message"]["content"] == "and a followup"
        cb_request = await twin.wait_for_request(method="POST", path=rf"^/interactions/{ping.id}/")
        assert cb_request.query == {"with_response": "1"} and "Authorization" not in cb_request.headers
        assert [m["content"] for m in twin.history(general)] == ["and a followup"]  # the ephemeral stays private

        slow = await twin.send_slash_command(general, alice, "slow")
        defer, done = await slow.wait_for_responses(2)
        assert (defer["type"], defer["data"], defer["message"]["flags"]) == (5, {}, 128)  # 128: loading
        assert done["kind"] == "followup" and slow.followups == []  # it completed the deferred message
        original = slow.original_message
        assert original is not None and (original["content"], original["flags"]) == ("done thinking", 0)

        denied = await twin.send_slash_command(general, alice, "reset")
        granted = await twin.send_slash_command(general, bob, "reset")
        [d] = await denied.wait_for_responses(1)
        [g] = await granted.wait_for_responses(1)
        assert (d["message"]["content"], d["ephemeral"]) == ("denied", True)
        assert (g["message"]["content"], g["ephemeral"]) == ("reset!", False)
        assert not discord.Permissions(int(denied.payload["member"]["permissions"])).manage_guild
        assert discord.Permissions(int(granted.payload["member"]["permissions"])).manage_guild
        assert discord.Permissions(int(denied.payload["app_permissions"])).manage_webhooks

        story = await twin.send_slash_command(
            general, alice, "story", {"topic": "Judgment Day", "narrator": bob}, subcommand="start"
        )
        [s] = await story.wait_for_responses(1)
        assert s["message"]["content"] == "Judgment Day told by bob"

        question = await text_channel(bot, general).send("Who trained John?", view=TriviaView())
        click = await twin.click_button(general, alice, question.id, "trivia:answer:sarah")
        [c] = await click.wait_for_responses(1)
        assert (c["type"], c["ephemeral"], c["message"]["content"]) == (4, True, "alice picked Sarah")
        assert twin.unhandled_requests == []


class AskModal(discord.ui.Modal, title="Ask the T-800"):
    question: discord.ui.TextInput[AskModal] = discord.ui.TextInput(label="Question", custom_id="question")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"asked: {self.question.value}", ephemeral=True)


class PersonaPicker(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.select(
        custom_id="persona", options=[discord.SelectOption(label="John"), discord.SelectOption(label="Sarah")]
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[PersonaPicker]) -> None:
        await interaction.response.edit_message(content=f"talking to {select.values[0]}", view=None)


class ExtrasBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=intents())

        @self.tree.command(description="Ask a question")
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(AskModal())

        @self.tree.command(description="Pick a persona")
        async def persona(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.defer(ephemeral=True)
            await interaction.edit_original_response(content=f"you chose {name}")

        @persona.autocomplete("name")
        async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=n, value=n) for n in ("john", "sarah", "t800") if n.startswith(current)]

        @self.tree.context_menu(name="Quote")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"> {message.content}")

        @self.tree.command(description="Read a file")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            text = (await file.read()).decode()
            await interaction.response.send_message(f"{file.filename}: {text}")

        @self.tree.command(description="Too slow")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.1)
            await interaction.response.send_message("too late")

    async def setup_hook(self) -> None:
        self.add_view(PersonaPicker())
        await self.tree.sync(guild=None)


async def test_modal_autocomplete_context_menu_select_and_deadline(twin: DiscordTwin) -> None:
    w = world(twin)
    general, alice = w["general"].id, w["alice"].id
    bot = ExtrasBot()
    async with run_client(twin, bot, fail_on_logged_errors=False):
        ask = await twin.send_slash_command(general, alice, "ask")
        [opened] = await ask.wait_for_responses(1)
        assert opened["type"] == 9 and ask.modal is not None and ask.modal["title"] == "Ask the T-800"
        submitted = await twin.submit_modal(ask, {"question": "Are you a Terminator?"})
        [answer] = await submitted.wait_for_responses(1)
        assert (answer["message"]["content"], answer["ephemeral"]) == ("asked: Are you a Terminator?", True)

        typing = await twin.send_autocomplete(general, alice, "persona", {"name": "s"}, focused="name")
        await typing.wait_for_responses(1)
        assert typing.autocomplete_choices == [{"name": "sarah", "value": "sarah"}]

        chose = await twin.send_slash_command(general, alice, "persona", {"name": "sarah"})
        defer, edit = await chose.wait_for_responses(2)
        assert (defer["data"], edit["kind"]) == ({"flags": 64}, "edit_original")
        original = chose.original_message
        assert original is not None and (original["content"], original["flags"]) == ("you chose sarah", 64)

        said = await twin.send_message(general, alice, "I need your clothes, your boots and your motorcycle.")
        quote = await twin.send_context_menu(general, alice, "Quote", target_message_id=int(said["id"]))
        [quoted] = await quote.wait_for_responses(1)
        assert quoted["message"]["content"] == "> I need your clothes, your boots and your motorcycle."
        assert quoted["message"]["type"] == 23  # CONTEXT_MENU_COMMAND

        up = await twin.send_slash_command(general, alice, "upload", {"file": Upload("plan.txt", b"destroy Skynet")})
        [read] = await up.wait_for_responses(1)
        assert read["message"]["content"] == "plan.txt: destroy Skynet"  # Attachment.read() hit the twin

        menu = await text_channel(bot, general).send("Who do you want to talk to?", view=PersonaPicker())
        picked = await twin.select_menu(general, alice, menu.id, "persona", ["Sarah"])
        [update] = await picked.wait_for_responses(1)
        assert update["type"] == 7 and update["message"]["content"] == "talking to Sarah"
        assert update["message"]["components"] == [] and update["message"]["id"] == str(menu.id)

        twin.callback_deadline = 0.05  # Discord allows 3s
        late = await twin.send_slash_command(general, alice, "late")
        callback = await twin.wait_for_request(method="POST", path=rf"^/interactions/{late.id}/")
        assert callback.status == 404 and callback.response == {"message": "Unknown interaction", "code": 10062}
        await twin.wait_until(lambda: twin.client_errors)
        assert isinstance(twin.client_errors[0].exc_info[1], app_commands.CommandInvokeError)  # type: ignore[index]
        assert late.responses == []


AT_LIMITS: dict[str, dict[str, Any]] = {
    "content": {"content": "x" * 2000},
    "embeds": {
        "embeds": [discord.Embed(title="t" * 256, description="x" * 4096), discord.Embed(description="x" * 1648)]
    },
}
OVER_LIMITS: dict[str, dict[str, Any]] = {
    "content": {"content": "x" * 2001},
    "description": {"embed": discord.Embed(description="x" * 4097)},
    "field": {"embed": discord.Embed().add_field(name="f", value="x" * 1025)},
    "fields": {"embed": discord.Embed.from_dict({"fields": [{"name": "f", "value": "v"}] * 26})},
    "footer": {"embed": discord.Embed().set_footer(text="x" * 2049)},
    "total": {"embeds": [discord.Embed(description="x" * 4000), discord.Embed(description="x" * 2001)]},
}
ANSWER_ROUTES = ("response", "followup", "edit")


class LimitsBot(commands.Bot):
    """``/answer`` answers with a message at or over Discord's limits by one of the routes of an interaction's
    answer, and records the error codes Discord gives."""

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=intents())
        self.refused: list[tuple[str, str, int]] = []

        @self.tree.command(description="Answer at or over one of Discord's limits")
        async def answer(interaction: discord.Interaction, kind: str, route: str, over: bool) -> None:
            message = (OVER_LIMITS if over else AT_LIMITS)[kind]
            try:
                if route == "response":
                    await interaction.response.send_message(**message)
                    return
                await interaction.response.defer(thinking=True)
                if route == "followup":
                    await interaction.followup.send(**message)
                else:
                    await interaction.edit_original_response(**message)
            except discord.HTTPException as exc:
                self.refused.append((kind, route, exc.code))
                if interaction.response.is_done():
                    await interaction.followup.send("refused")
                else:
                    await interaction.response.send_message("refused")

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_answers_over_discords_limits_are_refused_with_invalid_form_body(twin: DiscordTwin) -> None:
    w = world(twin)
    bot = LimitsBot()
    over = [(kind, route) for kind in OVER_LIMITS for route in ANSWER_ROUTES]
    at = [(kind, route) for kind in AT_LIMITS for route in ANSWER_ROUTES]
    async with run_client(twin, bot):
        for cases, is_over in ((over, True), (at, False)):
            for kind, route in cases:
                options = {"kind": kind, "route": route, "over": is_over}
                asked = await twin.send_slash_command(w["general"].id, w["alice"].id, "answer", options)
                await asked.wait_for_responses(1 if route == "response" else 2)
                shown = asked.original_message
                assert shown is not None
                if is_over:
                    assert shown["content"] == "refused"
                elif kind == "content":
                    assert len(shown["content"]) == 2000
                else:
                    assert [len(e.get("description", "")) for e in shown["embeds"]] == [4096, 1648]
    assert bot.refused == [(kind, route, 50035) for kind, route in over]


class ThinkingBot(commands.Bot):
    """``/refuse`` thinks in public, then deletes that and refuses privately."""

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=intents())

        @self.tree.command(description="Think in public, refuse in private")
        async def refuse(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.delete_original_response()
            await interaction.followup.send("only you see this", ephemeral=True)

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_a_followup_after_the_deleted_thinking_message_is_a_message_of_its_own(twin: DiscordTwin) -> None:
    w = world(twin)
    async with run_client(twin, ThinkingBot()):
        refused = await twin.send_slash_command(w["general"].id, w["alice"].id, "refuse")
        defer, deleted, followup = await refused.wait_for_responses(3)
    assert (defer["type"], deleted["kind"], followup["kind"]) == (5, "delete_original", "followup")
    assert followup["ephemeral"] is True and followup["message"]["content"] == "only you see this"
    assert [m["content"] for m in refused.followups] == ["only you see this"]
    assert twin.history(w["general"].id) == [], "nothing is left in the channel"


class FilesBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=intents())
        self.reactions: list[tuple[str, int]] = []

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        if message.content == "file please":
            await message.channel.send("here", file=discord.File(io.BytesIO(b"hello"), "hello.txt"))
        elif message.content == "read this" and message.attachments:
            data = await message.attachments[0].read()
            await message.reply(f"{message.attachments[0].filename} says {data.decode()}")
        elif message.content == "react":
            await message.add_reaction("👍")
        elif message.content == "story":
            thread = await message.create_thread(name="Story time")
            await thread.send("Once upon a time...")
        elif message.content == "edit":
            draft = await message.channel.send("v1")
            await draft.edit(content="v2")
            await draft.delete()

    async def on_reaction_add(self, reaction: discord.Reaction, user: discord.Member | discord.User) -> None:
        self.reactions.append((str(reaction.emoji), user.id))


async def test_files_reactions_threads_and_edits(twin: DiscordTwin) -> None:
    w = world(twin)
    general, alice = w["general"].id, w["alice"].id
    bot = FilesBot()
    async with run_client(twin, bot):
        await twin.send_message(general, alice, "file please")
        [sent] = await twin.wait_for_messages(general, 1)
        upload = await twin.wait_for_request(method="POST", predicate=lambda r: bool(r.files))
        assert upload.json["attachments"] == [{"id": 0, "filename": "hello.txt"}]  # parsed payload_json
        assert [(f.field, f.filename, f.data) for f in upload.files] == [("files[0]", "hello.txt", b"hello")]
        [attachment] = sent["attachments"]
        assert (attachment["filename"], attachment["size"], twin.attachment_bytes(attachment)) == (
            "hello.txt",
            5,
            b"hello",
        )

        asked = await twin.send_message(
            general, alice, "read this", attachments=[Upload("orders.txt", b"protect John")]
        )
        _, reply = await twin.wait_for_messages(general, 2)
        assert reply["content"] == "orders.txt says protect John"
        assert reply["type"] == 19 and reply["message_reference"]["message_id"] == asked["id"]
        assert [m["id"] for m in reply["mentions"]] == [str(alice)]  # replies ping the author by default

        react = await twin.send_message(general, alice, "react")
        await twin.wait_for_request(method="PUT", path="/reactions/")
        await twin.add_reaction(general, int(react["id"]), alice, "🔥")
        await twin.wait_until(lambda: len(bot.reactions) == 2)
        assert sorted(bot.reactions) == sorted([("👍", twin.bot_user.id), ("🔥", alice)])
        stored = twin.world.messages[int(react["id"])]["reactions"]
        assert {(r["emoji"]["name"], r["me"]) for r in stored} == {("👍", True), ("🔥", False)}

        story = await twin.send_message(general, alice, "story")
        [told] = await twin.wait_for_messages(int(story["id"]), 1)  # the thread has the message's id
        assert told["content"] == "Once upon a time..."
        thread = guild_of(bot, w["guild"].id).get_thread(int(story["id"]))
        assert thread is not None and thread.name == "Story time" and thread.parent_id == general

        await twin.send_message(general, alice, "edit")
        await twin.wait_for_request(method="DELETE", path=f"^/channels/{general}/messages/")
        draft = twin.messages[general][-1]
        assert (draft["content"], draft["raw"]["content"], draft.get("deleted")) == ("v2", "v1", True)
        assert [e["content"] for e in draft["edits"]] == ["v2"] and draft["edited_timestamp"] is not None


async def test_message_content_and_privileged_intents(twin: DiscordTwin) -> None:
    w = world(twin)
    plain = discord.Intents.default()  # no message_content, no members
    client = Recorder(client_intents=plain)
    async with run_client(twin, client):
        guild = guild_of(client, w["guild"].id)
        assert guild.member_count == 4 and [m.id for m in guild.members] == [twin.bot_user.id]
        await twin.send_message(w["general"].id, w["alice"].id, "secret plans")
        await twin.send_message(w["general"].id, w["alice"].id, f"<@{twin.bot_user.id}> hello")
        await twin.wait_until(lambda: len(client.received) == 2)
        assert [m.content for m in client.received] == ["", f"<@{twin.bot_user.id}> hello"]

    twin.privileged_intents = False
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with run_client(twin, Recorder()):
            pytest.fail("the client must not become ready")


async def test_unsupported_endpoint_hits_recorded_404(twin: DiscordTwin) -> None:
    w = world(twin)
    client = Recorder()
    async with run_client(twin, client):
        with pytest.raises(discord.NotFound) as err:
            await guild_of(client, w["guild"].id).fetch_emojis()
        assert err.value.code == 0 and err.value.text == "404: Not Found"
        [unhandled] = twin.unhandled_requests
        assert (unhandled.method, unhandled.path, unhandled.status) == ("GET", f"/guilds/{w['guild'].id}/emojis", 404)
        assert unhandled.response == {"message": "404: Not Found", "code": 0}
