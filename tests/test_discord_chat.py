"""The Discord front end end to end: the real discord.py client against the loopback twin, on real SQLite files."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC
from pathlib import Path
from typing import Any

import discord
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.discord.client import CompanionBot, ShardedCompanionBot
from bot.discord.runner import serve
from db.chat.models import ChannelSettings, Conversation, Memory, Message, User
from db.engine import create_session_factory
from db.outbox import NewPost, OutboxRepository, reply_key
from db.outbox.models import OutboxPost
from personas.roster import PERSONAS
from tests.chaos.harness import post_text
from tests.twin import DiscordTwin, run_client

pytest_plugins = ["tests.twin.fixtures"]

RunBot = Callable[..., AbstractAsyncContextManager[CompanionBot]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/discord.db", discord_token="twin-token")


@pytest.fixture
def run_bot(twin: DiscordTwin, settings: Settings) -> RunBot:
    def start(**overrides: Any) -> AbstractAsyncContextManager[CompanionBot]:
        return run_client(twin, CompanionBot(settings.model_copy(update=overrides)))

    return start


async def rows(engine: AsyncEngine, model: type[object], *where: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    general = twin.add_text_channel(guild.id, "general")
    lounge = twin.add_text_channel(guild.id, "lounge")
    alice = twin.add_member(guild.id, name="alice")
    bob = twin.add_member(guild.id, name="bob")
    admin = twin.add_member(guild.id, name="admin", manage_guild=True)
    return {"guild": guild, "general": general, "lounge": lounge, "alice": alice, "bob": bob, "admin": admin}


def mention(twin: DiscordTwin) -> str:
    return f"<@{twin.bot_user.id}>"


async def test_a_mention_is_answered_through_the_webhook_as_the_persona(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} sarah, where did you plan to take John?")
        [reply] = await twin.wait_for_messages(channel, 1)
    assert reply["webhook_id"] is not None
    assert reply["raw"]["username"] == "Sarah Connor"
    assert reply["raw"]["avatar_url"] == PERSONAS["sarah"].avatar_url
    assert reply["raw"]["allowed_mentions"] == {"parse": []}
    assert "Mexico" in reply["content"]
    [hook] = twin.webhooks(channel)
    async with engine.connect() as connection:
        stored = (await connection.execute(select(ChannelSettings.webhook_id, ChannelSettings.webhook_token))).one()
    assert stored == (int(hook["id"]), hook["token"])


async def test_the_webhook_is_created_once_and_reused(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    async with run_bot():
        for number in range(3):
            await twin.send_message(channel, world["alice"].id, f"{mention(twin)} question {number}: who is dyson?")
        await twin.wait_for_messages(channel, 3)
    assert len(twin.webhooks(channel)) == 1
    creates = [r for r in twin.requests if r.method == "POST" and r.path == f"/channels/{channel}/webhooks"]
    assert len(creates) == 1


async def test_without_manage_webhooks_the_reply_is_an_embed(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} t800, what is skynet?")
        [reply] = await twin.wait_for_messages(channel, 1)
    assert reply.get("webhook_id") is None
    [embed] = reply["embeds"]
    assert embed["author"]["name"] == "T-800"
    assert "Skynet" in embed["description"]
    assert reply["raw"]["allowed_mentions"] == {"parse": []}
    assert twin.webhooks(channel) == []


async def test_too_many_webhooks_falls_back_to_an_embed(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    twin.set_webhook_limit(channel, 0)
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        [reply] = await twin.wait_for_messages(channel, 1)
    assert reply["embeds"][0]["author"]["name"] == "John Connor"


async def test_a_deleted_webhook_is_recreated_once(twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot) -> None:
    channel = world["general"].id
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        await twin.wait_for_messages(channel, 1)
        [first] = twin.webhooks(channel)
        twin.delete_webhook(int(first["id"]))
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        replies = await twin.wait_for_messages(channel, 2)
    [second] = twin.webhooks(channel)
    assert second["id"] != first["id"]
    assert replies[1]["webhook_id"] == second["id"]
    assert replies[1]["raw"]["username"] == "John Connor"


async def test_replies_work_in_threads_through_the_parents_webhook(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    thread = twin.add_thread(world["general"].id, "judgment day")
    async with run_bot():
        await twin.send_message(thread.id, world["alice"].id, f"{mention(twin)} when is judgment day?")
        [reply] = await twin.wait_for_messages(thread.id, 1)
    assert reply["raw"]["username"] == "John Connor"
    assert "1997" in reply["content"]
    execute = next(r for r in twin.requests if r.method == "POST" and r.path.startswith("/webhooks/"))
    assert execute.query.get("thread_id") == str(thread.id)


async def test_mentions_in_the_input_are_never_echoed_or_pinged(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} @everyone <@123> @here who is Dyson?")
        [reply] = await twin.wait_for_messages(channel, 1)
    assert reply["raw"]["allowed_mentions"] == {"parse": []}
    assert "@" not in reply["content"] and "<@" not in reply["content"]
    assert reply["mention_everyone"] is False and reply["mentions"] == []


async def test_a_dm_conversation_keeps_its_memory_across_a_restart(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    dm = twin.add_dm_channel(world["alice"].id)
    async with run_bot():
        await twin.send_message(dm.id, world["alice"].id, "sarah, who is Dyson?")
        [first] = await twin.wait_for_messages(dm.id, 1)
    assert first["embeds"][0]["author"]["name"] == "Sarah Connor"
    async with run_bot():
        await twin.send_message(dm.id, world["alice"].id, "sarah, what happened to him?")
        replies = await twin.wait_for_messages(dm.id, 2)
    text = replies[1]["embeds"][0]["description"]
    assert "Dyson" in text or "himself" in text or "his" in text
    async with engine.connect() as connection:
        turn = await connection.scalar(select(Memory.turn))
        facts = (await connection.scalars(select(Message.fact_ids).where(Message.role == "persona"))).all()
    assert turn == 2
    assert facts[1] and facts[1][0].startswith("f-dyson")


async def test_a_reply_to_a_persona_keeps_that_persona(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} t800, who sent you?")
        [first] = await twin.wait_for_messages(channel, 1)
        await twin.send_message(channel, world["alice"].id, "and why?", referenced_message_id=int(first["id"]))
        replies = await twin.wait_for_messages(channel, 2)
    assert [reply["raw"]["username"] for reply in replies] == ["T-800", "T-800"]


async def test_messages_not_for_the_bot_and_from_bots_are_ignored(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    other_bot = twin.add_member(world["guild"].id, name="otherbot", bot=True)
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, "just chatting with friends")
        await twin.send_message(channel, other_bot.id, f"{mention(twin)} hi")
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        [reply] = await twin.wait_for_messages(channel, 1)
        await asyncio.sleep(0.2)
    assert len(twin.messages[channel]) == 1
    assert reply["raw"]["username"] == "John Connor"


async def test_a_429_on_the_first_send_gives_exactly_one_reply(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_bot():
        twin.fail_next(1, status=429, retry_after=0.05, path_contains=f"/channels/{channel}/messages")
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        await twin.wait_for_messages(channel, 1)
        await asyncio.sleep(0.3)
    assert len(twin.messages[channel]) == 1
    sends = [r for r in twin.requests if r.method == "POST" and r.path == f"/channels/{channel}/messages"]
    assert [r.status for r in sends] == [429, 200]


async def test_a_replayed_message_after_resume_is_answered_once(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    async with run_bot():
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        await twin.wait_for_messages(channel, 1)
        await twin.drop_connection(4000, replay_last=3)
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        await twin.wait_for_messages(channel, 2)
        await asyncio.sleep(0.3)
    assert len(twin.messages[channel]) == 2
    assert any(f.op == 6 for f in twin.gateway_frames if f.direction == "in"), "the client must RESUME"
    assert await rows(engine, Message, Message.role == "user") == 2


async def test_a_flood_from_one_user_is_limited_and_others_still_get_answers(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    general, lounge = world["general"].id, world["lounge"].id
    async with run_bot(chat_turns_per_user=3, chat_turn_period_s=60):
        sent = [
            await twin.send_message(general, world["alice"].id, f"{mention(twin)} flood {n}: what is skynet?")
            for n in range(6)
        ]
        await twin.send_message(lounge, world["bob"].id, f"{mention(twin)} who is dyson?")
        await twin.wait_for_messages(lounge, 1)
        await twin.wait_for_messages(general, 3)
        await twin.wait_for_request(method="PUT", path=r"/reactions/")
        await asyncio.sleep(0.3)
    assert len(twin.messages[general]) == 3
    reactions = [r for r in twin.requests if r.method == "PUT" and "/reactions/" in r.path]
    assert len(reactions) == 1, "a flooding user is told once"
    assert str(sent[3]["id"]) in reactions[0].path


async def test_talk_and_why_as_interactions(twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot) -> None:
    channel = world["general"].id
    async with run_bot():
        talk = await twin.send_slash_command(
            channel, world["alice"].id, "talk", {"persona": "t800", "message": "When is Judgment Day?"}
        )
        [answer] = await talk.wait_for_answers(1)
        why = await twin.send_slash_command(channel, world["alice"].id, "why")
        [explained] = await why.wait_for_answers(1)
    assert answer["data"]["embeds"][0]["author"]["name"] == "T-800"
    assert "1997" in answer["data"]["embeds"][0]["description"]
    assert answer["data"]["allowed_mentions"] == {"parse": []}
    assert explained["ephemeral"] is True
    assert "f-judgment-day-date" in explained["data"]["content"]


async def test_persona_set_and_list(twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot) -> None:
    channel = world["general"].id
    async with run_bot():
        chosen = await twin.send_slash_command(
            channel, world["alice"].id, "persona", {"persona": "sarah"}, subcommand="set"
        )
        await chosen.wait_for_answers(1)
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        [reply] = await twin.wait_for_messages(channel, 1)
        listing = await twin.send_slash_command(channel, world["alice"].id, "persona", subcommand="list")
        [shown] = await listing.wait_for_answers(1)
    assert chosen.answers[0]["ephemeral"] is True
    assert reply["raw"]["username"] == "Sarah Connor"
    assert [field["name"] for field in shown["data"]["embeds"][0]["fields"]] == ["John Connor", "Sarah Connor", "T-800"]


async def test_an_option_that_is_not_one_of_the_choices_gets_a_short_answer_not_an_apology(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_bot():
        odd = await twin.send_slash_command(
            world["general"].id, world["alice"].id, "persona", {"persona": ""}, subcommand="set"
        )
        [answer] = await odd.wait_for_answers(1)
    assert answer["ephemeral"] is True and "could not read one of the options" in answer["data"]["content"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_persona_channel_needs_manage_server(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    async with run_bot():
        refused = await twin.send_slash_command(
            channel, world["alice"].id, "persona", {"persona": "t800"}, subcommand="channel"
        )
        [refusal] = await refused.wait_for_answers(1)
        allowed = await twin.send_slash_command(
            channel, world["admin"].id, "persona", {"persona": "t800"}, subcommand="channel"
        )
        await allowed.wait_for_answers(1)
        await twin.send_message(channel, world["bob"].id, "what is the T-1000 made of?")
        [reply] = await twin.wait_for_messages(channel, 1)
    assert refusal["ephemeral"] is True and "Manage Server" in refusal["data"]["content"]
    assert reply["raw"]["username"] == "T-800" and "polyalloy" in reply["content"]
    async with engine.connect() as connection:
        assert await connection.scalar(select(ChannelSettings.auto_persona)) == "t800"


async def test_forget_me_asks_then_deletes_every_row_of_the_user(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    async with run_bot():
        for user in (alice, bob):
            await twin.send_message(channel, user, f"{mention(twin)} who is dyson?")
        await twin.wait_for_messages(channel, 2)
        ask = await twin.send_slash_command(channel, alice, "forget-me")
        [question] = await ask.wait_for_answers(1)
        assert question["ephemeral"] is True
        buttons = [c for row in question["data"]["components"] for c in row["components"]]
        confirm = next(b["custom_id"] for b in buttons if b["label"] == "Delete my data")
        message_id = int(ask.original_message["id"]) if ask.original_message else 0
        intruder = await twin.click_button(channel, bob, message_id, confirm)
        [refused] = await intruder.wait_for_answers(1)
        assert await rows(engine, User) == 2
        click = await twin.click_button(channel, alice, message_id, confirm)
        [under_way, done] = await click.wait_for_answers(2)
    assert "not for you" in refused["data"]["content"]
    assert click.responses[0]["type"] == 6, "the click is acknowledged before anything is stored"
    assert under_way["kind"] == "edit_original" and under_way["data"]["content"].startswith("Deleting")
    assert under_way["data"]["components"] == [], "the buttons go at once, so nobody presses them twice"
    assert done["kind"] == "edit_original" and "deleted everything" in done["data"]["content"]
    assert await rows(engine, User, User.external_id == f"discord:{alice}") == 0
    assert await rows(engine, User) == 1
    assert await rows(engine, Conversation) == 1
    assert await rows(engine, Message) == 2
    assert await rows(engine, Memory) == 1


async def test_forget_me_button_still_works_after_a_restart(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot():
        await twin.send_message(channel, alice, f"{mention(twin)} hi")
        await twin.wait_for_messages(channel, 1)
        ask = await twin.send_slash_command(channel, alice, "forget-me")
        [question] = await ask.wait_for_answers(1)
    confirm = question["data"]["components"][0]["components"][0]["custom_id"]
    async with run_bot():
        click = await twin.click_button(channel, alice, int(ask.original_message["id"]), confirm)
        await click.wait_for_answers(2)
    assert await rows(engine, User) == 0


async def test_export_sends_the_users_data_as_an_ephemeral_file(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot():
        await twin.send_message(channel, alice, f"{mention(twin)} who is dyson?")
        await twin.wait_for_messages(channel, 1)
        export = await twin.send_slash_command(channel, alice, "export")
        responses = await export.wait_for_answers(1)
    followup = responses[-1]
    assert followup["ephemeral"] is True
    [attachment] = followup["message"]["attachments"]
    data = json.loads(twin.attachment_bytes(attachment))
    assert data["user"] == f"discord:{alice}"
    assert data["conversations"][0]["messages"][0]["text"] == "who is dyson?"
    assert data["trivia"]["scores"] == [] and data["story"]["sessions"] == []  # every feature answers, even empty


async def test_a_long_reply_is_split_under_2000_characters(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    async with run_bot() as bot:
        await bot.poster.post(
            bot.get_channel(channel), PERSONAS["sarah"], "Sarah looks to the future with hope. " * 100
        )
    posted = twin.messages[channel]
    assert len(posted) == 2
    assert all(len(message["content"]) <= 2000 for message in posted)
    assert all(message["content"].endswith(".") for message in posted)


async def test_a_database_error_is_told_in_character_with_a_reference_and_the_bot_keeps_running(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    async with run_bot() as bot:
        await bot.app.engine.dispose()
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TABLE memories")
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} hi")
        [apology] = await twin.wait_for_messages(channel, 1)
        talk = await twin.send_slash_command(channel, world["bob"].id, "talk", {"persona": "john", "message": "hi"})
        [answer] = await talk.wait_for_answers(1)
        twin.client_errors.clear()
    told = apology["embeds"][0]["description"]
    assert apology["embeds"][0]["author"]["name"] == "John Connor" and "Traceback" not in str(apology)
    assert re.fullmatch(r".+ \(ref [0-9A-F]{8}\)", told) and told.split(" (ref")[0] in PERSONAS["john"].voice.retry
    assert answer["ephemeral"] is True and re.search(r"\(ref [0-9A-F]{8}\)$", answer["data"]["content"])


async def test_shutdown_finishes_turns_in_flight(twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot) -> None:
    channel = world["general"].id
    async with run_bot() as bot:
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        await twin.wait_until(lambda: bot._in_flight or twin.messages.get(channel), what="a turn in flight")
        await bot.shutdown()
        assert not bot.accepting
    assert len(twin.messages[channel]) == 1


async def test_commands_sync_to_one_guild_when_asked(twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot) -> None:
    guild = world["guild"].id
    async with run_bot(discord_guild_id=guild):
        pass
    names = {command["name"] for command in twin.commands(guild)}
    assert {"talk", "persona", "why", "forget-me", "export"} <= names


def test_message_content_intent_can_be_turned_off(settings: Settings) -> None:
    bot = CompanionBot(settings.model_copy(update={"message_content_intent": False}))
    assert not bot.intents.message_content
    assert CompanionBot(settings).intents.message_content
    assert isinstance(bot.tree, discord.app_commands.CommandTree)


async def test_the_runner_falls_back_without_message_content_and_stops_cleanly_on_sigterm(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with DiscordTwin(privileged_intents=False) as twin:
        guild = twin.add_guild()
        channel = twin.add_text_channel(guild.id).id
        alice = twin.add_member(guild.id, name="alice").id
        with twin.patch_discord(), caplog.at_level(logging.WARNING):
            serving = asyncio.create_task(serve(settings))

            def accepted_after_refusal() -> bool:
                frames = twin.gateway_frames
                identifies = [n for n, f in enumerate(frames) if f.direction == "in" and f.op == 2]
                return len(identifies) >= 2 and any(f.t == "GUILD_CREATE" for f in frames[identifies[-1] :])

            await twin.wait_until(accepted_after_refusal, timeout=30, what="a second, accepted IDENTIFY")
            await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> when is judgment day?")
            [reply] = await twin.wait_for_messages(channel, 1)
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(serving, 15) == 0
    assert "1997" in reply["content"]
    assert any("MESSAGE CONTENT INTENT" in record.getMessage() for record in caplog.records)
    identifies = [f for f in twin.gateway_frames if f.direction == "in" and f.op == 2]
    assert identifies[0].d["intents"] & discord.Intents(message_content=True).value
    assert not identifies[-1].d["intents"] & discord.Intents(message_content=True).value


async def test_a_burst_in_one_channel_is_paced_under_discords_limits_and_answered_in_order(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel = world["general"].id
    addressed = ["sarah", "t800", "john", "t800", "sarah", "john", "sarah", "t800", "john", "sarah"]
    names = {"john": "John Connor", "sarah": "Sarah Connor", "t800": "T-800"}
    async with run_bot():
        for n, persona in enumerate(addressed):  # two users, five messages each: within the per-user limit
            author = world["alice"] if n % 2 == 0 else world["bob"]
            await twin.send_message(channel, author.id, f"{mention(twin)} {persona}, what is skynet?")
        replies = await twin.wait_for_messages(channel, len(addressed), timeout=15.0)
    assert [reply["raw"]["username"] for reply in replies] == [names[p] for p in addressed]
    assert twin.rate_limited == []
    posts = [r for r in twin.requests if r.method == "POST" and r.path.startswith("/webhooks/")]
    assert [r.status for r in posts] == [200] * len(addressed)


async def test_missed_heartbeat_acks_make_the_bot_resume_and_answer_once(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    twin.heartbeat_interval = 100  # ms: the client heartbeats, and checks on the connection, ten times a second
    async with run_client(twin, CompanionBot(settings), heartbeat_timeout=1.0):
        mark = len(twin.gateway_frames)
        async with twin.missing_heartbeat_acks() as [session]:
            await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
            await asyncio.sleep(0.3)
            assert twin.messages[channel] == [], "a zombied connection delivers nothing"
        [reply] = await twin.wait_for_messages(channel, 1)
        await asyncio.sleep(0.3)
    assert len(twin.messages[channel]) == 1 and "Dyson" in reply["content"]
    frames = twin.gateway_frames[mark:]
    resume = next(n for n, f in enumerate(frames) if f.direction == "in" and f.op == 6)
    assert frames[resume].d["session_id"] == session.id and frames[resume].d["seq"] < session.seq
    unanswered = [f for f in frames[:resume] if f.direction == "in" and f.op == 1]
    assert len(unanswered) >= 5, "heartbeats went unanswered until the client gave up"
    assert not any(f.direction == "in" and f.op == 2 for f in frames), "resumed, not identified again"
    replayed = [f for f in frames if f.t == "MESSAGE_CREATE" and f.direction == "out"]
    assert replayed and all(n > resume for n, f in enumerate(frames) if f in replayed)
    assert await rows(engine, Message, Message.role == "user") == 1


# --- the outbox: a stored reply is posted once, whatever fails in between ---------------------------------


async def outbox_depth(engine: AsyncEngine) -> int:
    return await rows(engine, OutboxPost)


async def test_a_reply_discord_refused_is_posted_from_the_outbox_exactly_once(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    twin.deny_bot_permission(channel, "manage_webhooks")  # posts as the bot, which discord.py does not retry on 503
    async with run_bot(outbox_poll_s=0.1):
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        [reply] = await twin.wait_for_messages(channel, 1, timeout=10)
        await asyncio.sleep(0.5)  # more passes of the outbox: nothing more is posted
    assert len(twin.messages[channel]) == 1
    sends = [r for r in twin.requests if r.method == "POST" and r.path == f"/channels/{channel}/messages"]
    assert [r.status for r in sends] == [503, 200]
    assert sends[1].json["nonce"] == sends[0].json["nonce"] and sends[1].json["enforce_nonce"] is True
    assert "Dyson" in reply["embeds"][0]["description"]
    assert await outbox_depth(engine) == 0


async def test_a_reply_stored_before_a_stop_is_posted_once_after_the_restart(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_bot(outbox_poll_s=60):
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        asked = await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        await twin.wait_until(lambda: any(r.status == 503 for r in twin.requests), 5, what="the refused post")
    assert len(twin.messages[channel]) == 0
    assert await outbox_depth(engine) == 1, "the reply waits in the outbox across the stop"
    async with run_bot(outbox_poll_s=60):
        await twin.gateway.dispatch("MESSAGE_CREATE", asked)  # the gateway delivers the message again
        [reply] = await twin.wait_for_messages(channel, 1, timeout=10)
        await asyncio.sleep(0.3)
    assert len(twin.messages[channel]) == 1 and "Dyson" in reply["embeds"][0]["description"]
    assert await rows(engine, Message, Message.role == "user") == 1
    assert await outbox_depth(engine) == 0


async def test_a_process_running_some_shards_posts_only_the_leftovers_of_its_guilds(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with DiscordTwin(shards=2) as twin:
        theirs, ours = twin.add_guild("shard 0", shard=0), twin.add_guild("shard 1", shard=1)
        their_channel, our_channel = twin.add_text_channel(theirs.id).id, twin.add_text_channel(ours.id).id
        sharded = settings.model_copy(update={"shard_count": 2, "shard_ids": (1,), "outbox_poll_s": 60})
        bot = ShardedCompanionBot(sharded)
        async with run_client(twin, bot):
            written = int(time.time() * 1000) - 5000  # older than the outbox's grace: left by a stopped process
            async with engine.begin() as connection:
                for key, channel in (("theirs", their_channel), ("ours", our_channel)):  # the other shard's first
                    await connection.execute(
                        insert(OutboxPost).values(
                            key=key,
                            kind="chat",
                            channel_id=channel,
                            persona="john",
                            text=f"left for {key}",
                            payload=None,
                            created_at_ms=written,
                            parts_sent=0,
                        )
                    )
            assert await bot.outbox.drain() == 1
        assert [post_text(m) for m in twin.messages[our_channel]] == ["left for ours"]
        assert twin.messages[their_channel] == [], "the other shard's process posts it"
        async with engine.connect() as connection:
            assert list((await connection.scalars(select(OutboxPost.key))).all()) == ["theirs"]


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhook", "embed"])
async def test_a_reply_that_went_out_but_was_not_yet_settled_when_the_bot_died_is_not_posted_again(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, webhooks: bool
) -> None:
    """The outbox row of a reply is removed in the background after Discord has taken the reply: a process that
    dies in between leaves it stored, and the next start finds the reply in the channel (or Discord answers its
    nonce) instead of posting it again."""
    channel = world["general"].id
    if not webhooks:
        twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_bot(outbox_poll_s=60):
        asked = await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        [reply] = await twin.wait_for_messages(channel, 1)
    async with engine.connect() as connection:
        persona, text, at = (
            await connection.execute(
                select(Message.persona, Message.text, Message.created_at).where(Message.role == "persona")
            )
        ).one()
    async with create_session_factory(engine).begin() as session:  # the removal the kill cut off
        created_at_ms = int(at.replace(tzinfo=UTC).timestamp() * 1000)
        post = NewPost(reply_key(int(asked["id"])), "chat", channel, text, persona=persona, created_at_ms=created_at_ms)
        await OutboxRepository(session).add([post])
    mark = len(twin.requests)
    async with run_bot(outbox_poll_s=0.1):
        for _ in range(100):  # past the outbox's grace, its loop settles it
            if await outbox_depth(engine) == 0:
                break
            await asyncio.sleep(0.1)
        await twin.gateway.dispatch("MESSAGE_CREATE", asked)  # and a replayed event finds nothing waiting
        await asyncio.sleep(0.3)
    assert await outbox_depth(engine) == 0
    assert [m["id"] for m in twin.messages[channel]] == [reply["id"]]
    posts = [r for r in twin.requests[mark:] if r.method == "POST"]
    posted_again = [r.path for r in posts if r.path.endswith("/messages") or r.path.startswith("/webhooks/")]
    assert posted_again == [], "the channel shows the reply: nothing is posted"


async def test_an_identical_reply_still_waiting_behind_a_reply_that_went_out_does_not_post_it_again(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    """Two people asked the same and got the same reply in one channel: the first went out (its removal from the
    outbox was cut off), the second is stored and still waiting its turn. The second must not be taken for a post
    already made for the first, which would post the first again."""
    channel = world["general"].id
    async with run_bot(outbox_poll_s=60):
        asked = await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        [reply] = await twin.wait_for_messages(channel, 1)
    async with engine.connect() as connection:
        conversation_id, persona, text, at = (
            await connection.execute(
                select(Message.conversation_id, Message.persona, Message.text, Message.created_at).where(
                    Message.role == "persona"
                )
            )
        ).one()
    first_ms = int(at.replace(tzinfo=UTC).timestamp() * 1000) - 5000  # older than the grace: left by a stop
    async with create_session_factory(engine).begin() as session:
        session.add(Message(conversation_id=conversation_id, role="persona", persona=persona, text=text))
        await OutboxRepository(session).add(
            [
                NewPost(reply_key(int(asked["id"])), "chat", channel, text, persona=persona, created_at_ms=first_ms),
                NewPost(reply_key(int(asked["id"]) + 1), "chat", channel, text, persona=persona),  # its turn is next
            ]
        )
    async with run_bot(outbox_poll_s=0.1):  # its loop settles the first; the second is left to its handler
        for _ in range(100):
            if await outbox_depth(engine) == 1:
                break
            await asyncio.sleep(0.1)
    assert [m["id"] for m in twin.messages[channel]] == [reply["id"]], "the first went out: not posted again"
    async with engine.connect() as connection:
        waiting = list((await connection.scalars(select(OutboxPost.key))).all())
    assert waiting == [reply_key(int(asked["id"]) + 1)]


async def test_a_post_older_than_the_limit_is_given_up_not_sent_late(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    channel = world["general"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_bot(outbox_poll_s=60):
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        await twin.send_message(channel, world["alice"].id, f"{mention(twin)} who is dyson?")
        await twin.wait_until(lambda: any(r.status == 503 for r in twin.requests), 5, what="the refused post")
    await asyncio.sleep(2.2)  # older than the outbox's grace and than the limit below
    with caplog.at_level(logging.WARNING, logger="bot.discord.outbox"):
        async with run_bot(outbox_poll_s=0.1, outbox_max_age_s=1.0):
            await twin.wait_until(lambda: "gave up a post" in caplog.text, 5, what="the give-up")
    assert len(twin.messages[channel]) == 0
    assert await outbox_depth(engine) == 0
