"""Group stories end to end: the real discord.py client against the loopback twin, on real SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import discord
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import Settings
from bot.discord.client import CompanionBot
from bot.discord.personas_out import PersonaPoster
from bot.limits import SlidingWindow
from db.chat.models import Message
from db.outbox.models import OutboxPost
from db.story.models import StoryEvent, StoryPlayer, StorySession
from personas.factbase import load_fact_base
from personas.story import load_story
from tests.clock import FakeClock
from tests.test_story_service import LATER_QUESTIONS
from tests.twin import DiscordTwin, TwinInteraction, run_client

pytest_plugins = ["tests.twin.fixtures"]

BASE = load_fact_base()
STORY = load_story(BASE)
RunBot = Callable[..., AbstractAsyncContextManager[CompanionBot]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/story.db", discord_token="twin-token", chat_turns_per_user=1000
    )


@pytest.fixture
def clock() -> FakeClock:
    """Game time for every bot started in the test: the app is built with this clock instead of time.time."""
    return FakeClock()


@pytest.fixture
def run_bot(twin: DiscordTwin, settings: Settings, clock: FakeClock) -> RunBot:
    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[CompanionBot]:
        async with run_client(twin, CompanionBot(settings, clock=clock)) as bot:
            bot.poster = PersonaPoster(bot, bot.channels, pacer=SlidingWindow(100_000, 1.0))  # no 5/5 s pacing
            yield bot

    return start


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    return {
        "guild": guild,
        "general": twin.add_text_channel(guild.id, "general"),
        "lounge": twin.add_text_channel(guild.id, "lounge"),
        "ann": twin.add_member(guild.id, name="ann"),
        "bob": twin.add_member(guild.id, name="bob"),
        "cid": twin.add_member(guild.id, name="cid"),
        "mod": twin.add_member(guild.id, name="mod", manage_messages=True),
    }


def components(message: dict[str, Any]) -> dict[str, str]:
    """arg -> custom id of every story button on a message."""
    found = {}
    for row in message.get("components") or []:
        for button in row.get("components", []):
            custom_id = button.get("custom_id", "")
            if custom_id.startswith("t2:story:"):
                found[custom_id.rsplit(":", 1)[1]] = custom_id
    return found


async def prompt(twin: DiscordTwin, channel: int, kind: str, scene: int, after: int = 0) -> tuple[int, dict[str, str]]:
    """The newest message with the decision buttons of ``scene`` (waits for it)."""
    pattern = re.compile(rf"^t2:story:\d+:{scene}:{kind}:")

    def find() -> tuple[int, dict[str, str]] | None:
        for message in reversed(twin.history(channel)):
            buttons = components(message)
            if int(message["id"]) > after and any(pattern.match(c) for c in buttons.values()):
                return int(message["id"]), buttons
        return None

    return await twin.wait_until(find, 10.0, what=f"the {kind} prompt of scene {scene}")


def titled(twin: DiscordTwin, channel: int, title: str) -> dict[str, Any] | None:
    """The first embed in the channel with this title (a message carries several when narration comes together)."""
    return next((e for m in twin.history(channel) for e in m["embeds"] if e.get("title") == title), None)


async def ephemeral(interaction: TwinInteraction) -> str:
    """The text of the first ephemeral answer to an interaction (waits for it)."""

    def text(response: dict[str, Any]) -> str:
        return str(response["data"].get("content") or (response["message"] or {}).get("content") or "")

    found = await interaction.twin.wait_until(
        lambda: next((r for r in interaction.responses if r["ephemeral"] and text(r)), None),
        10.0,
        what="an ephemeral answer",
    )
    return text(found)


async def open_lobby(twin: DiscordTwin, channel: int, host: int, **options: Any) -> tuple[int, dict[str, str]]:
    started = await twin.send_slash_command(channel, host, "story", options, subcommand="start")
    await started.wait_for_answers(1)
    message = started.original_message
    assert message is not None
    assert message["embeds"][0]["title"] == "Story lobby"
    return int(message["id"]), components(message)


async def click(twin: DiscordTwin, channel: int, user: int, message_id: int, custom_id: str) -> str:
    return await ephemeral(await twin.click_button(channel, user, message_id, custom_id))


async def wait_for_rows(twin: DiscordTwin, engine: AsyncEngine, count: int) -> None:
    """Wait until ``count`` persona replies are stored (each is stored before it is posted)."""
    for _ in range(500):
        if await rows(engine, Message, Message.role == "persona") >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} replies were not stored")


async def rows(engine: AsyncEngine, model: type[object], *where: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_full_vote_session_with_three_players_to_the_epilogue(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    ann, bob, cid = world["ann"].id, world["bob"].id, world["cid"].id
    async with run_bot():
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="vote", vote_seconds=60)
        assert set(lobby) == {"john", "sarah", "t800", "fighter", "leave", "start"}
        assert "You play John Connor." in await click(twin, channel, ann, lobby_id, lobby["john"])
        assert "You play Sarah Connor." in await click(twin, channel, bob, lobby_id, lobby["sarah"])
        assert "resistance fighter" in await click(twin, channel, cid, lobby_id, lobby["fighter"])
        assert "Only the host" in await click(twin, channel, bob, lobby_id, lobby["start"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        last = 0
        for scene in range(1, 9):
            last, buttons = await prompt(twin, channel, "vote", scene, after=last)
            first, second = list(buttons)[:2]
            assert "Your vote" in await click(twin, channel, ann, last, buttons[first])
            await click(twin, channel, bob, last, buttons[second])
            await click(twin, channel, cid, last, buttons[second])
        epilogue = await twin.wait_until(lambda: titled(twin, channel, "Epilogue"), 10.0, what="the epilogue")
    text = epilogue["description"]
    assert "Ann (John Connor)" in text and "Bob (Sarah Connor)" in text and "Cid (resistance fighter)" in text
    lines = [m for m in twin.messages[channel] if m.get("webhook_id")]
    assert lines and {m["raw"]["username"] for m in lines} == {"T-800"}  # John and Sarah are played by people
    assert all(m["raw"]["allowed_mentions"] == {"parse": []} for m in twin.messages[channel])
    async with AsyncSession(engine) as session:
        stored = (await session.scalars(select(StorySession))).one()
    assert stored.status == "ended" and stored.active_scope is None and stored.scene == 8
    assert stored.state["flags"]["lookout"] == "freeway" and stored.state["flags"]["goodbye"] == "beg"
    assert await rows(engine, StoryPlayer) == 3
    assert await rows(engine, StoryEvent, StoryEvent.kind == "vote") == 24
    assert await rows(engine, StoryEvent, StoryEvent.kind == "decision") == 8


async def test_a_restart_in_the_middle_of_a_vote_keeps_votes_and_time_left(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, clock: FakeClock, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    ann, bob, cid = world["ann"].id, world["bob"].id, world["cid"].id
    async with run_bot():
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="vote", vote_seconds=60)
        for user, role in ((ann, "john"), (bob, "sarah"), (cid, "t800")):
            await click(twin, channel, user, lobby_id, lobby[role])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        vote_id, buttons = await prompt(twin, channel, "vote", 1)
        clock.advance(15)
        await click(twin, channel, ann, vote_id, buttons["think-of-sarah"])
        await click(twin, channel, bob, vote_id, buttons["think-of-sarah"])
    clock.advance(3600)  # the bot is down for an hour
    async with run_bot():
        status = await twin.send_slash_command(channel, cid, "story", subcommand="status")
        assert "Votes: 2 of 3, 45 s left." in await ephemeral(status)
        assert "Your vote" in await click(twin, channel, cid, vote_id, buttons["stay-close"])  # the old buttons work
        await prompt(twin, channel, "vote", 2)
    async with AsyncSession(engine) as session:
        stored = (await session.scalars(select(StorySession))).one()
    assert stored.scene == 2 and stored.state["flags"]["lookout"] == "hospital"


async def test_only_the_current_player_may_choose_and_the_idle_are_skipped(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, clock: FakeClock
) -> None:
    channel = world["general"].id
    ann, bob, cid = world["ann"].id, world["bob"].id, world["cid"].id
    async with run_bot():
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["john"])
        await click(twin, channel, bob, lobby_id, lobby["fighter"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        message_id, buttons = await prompt(twin, channel, "choose", 1)
        assert "Not your turn: it is Ann's call." == await click(twin, channel, bob, message_id, buttons["freeway"])
        assert "Not your turn" in await click(twin, channel, cid, message_id, buttons["freeway"])
        assert "Your choice is made." == await click(twin, channel, ann, message_id, buttons["freeway"])
        message_id, buttons = await prompt(twin, channel, "choose", 2, after=message_id)
        assert "it is your call" in twin.history(channel)[-1]["embeds"][-1]["description"]
        clock.advance(121)
        skipped = await twin.wait_until(
            lambda: next((m for m in twin.history(channel)[::-1] if "took too long" in str(m["embeds"])), None),
            5.0,
            what="the idle player skipped",
        )
        assert "Bob took too long and is skipped." in str(skipped["embeds"])
        assert "Your choice is made." == await click(twin, channel, ann, message_id, buttons["shield"])
        await prompt(twin, channel, "choose", 3, after=message_id)


async def test_skip_and_end_are_for_the_host_or_moderators(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    ann, bob, mod = world["ann"].id, world["bob"].id, world["mod"].id
    async with run_bot():
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["john"])
        await click(twin, channel, bob, lobby_id, lobby["sarah"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        await prompt(twin, channel, "choose", 1)  # the opening is posted after the click is answered
        for command in ("skip", "end"):
            refused = await twin.send_slash_command(channel, bob, "story", subcommand=command)
            assert "Only the host" in await ephemeral(refused)
        skipped = await twin.send_slash_command(channel, ann, "story", subcommand="skip")
        assert await ephemeral(skipped) == "Skipped."
        ended = await twin.send_slash_command(channel, mod, "story", subcommand="end")
        assert await ephemeral(ended) == "The story is over."
        status = await twin.send_slash_command(channel, bob, "story", subcommand="status")
        assert "no story session here" in await ephemeral(status)
        await twin.wait_until(  # the epilogue is posted after the answer: let it land before the bot stops
            lambda: next((m for m in twin.history(channel) if "Epilogue" in str(m["embeds"])), None),
            5.0,
            what="the epilogue",
        )
    assert await rows(engine, StorySession, StorySession.status == "ended") == 1


async def test_free_questions_at_every_scene_reveal_nothing_later(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    ann, bob = world["ann"].id, world["bob"].id
    me = f"<@{twin.bot_user.id}>"
    async with run_bot() as bot:
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["sarah"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        sid = await bot.app.story.session_id(f"channel:{channel}")
        asked = 0
        for scene in range(1, 9):
            for persona in ("t800", "john", "sarah"):
                for question in LATER_QUESTIONS[:4]:
                    await twin.send_message(channel, bob, f"{me} {persona}, {question}", mentions=[twin.bot_user.id])
                    asked += 1
            await wait_for_rows(twin, engine, asked)
            async with engine.connect() as connection:
                replies = (
                    await connection.execute(select(Message.persona, Message.fact_ids).where(Message.role == "persona"))
                ).all()
            assert len(replies) == asked
            for persona, fact_ids in replies[-12:]:
                assert persona != "sarah"  # Sarah is played by ann: another persona answers
                for fact_id in fact_ids:
                    assert BASE.fact(fact_id).known_by(persona, scene), (scene, persona, fact_id)
            await bot.app.story.choose(sid, scene, f"discord:{ann}", STORY.scene(scene).decision.options[0].id)


async def test_a_player_leaving_mid_session_passes_the_turn(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel = world["general"].id
    ann, bob = world["ann"].id, world["bob"].id
    async with run_bot():
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["john"])
        await click(twin, channel, bob, lobby_id, lobby["t800"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        message_id, buttons = await prompt(twin, channel, "choose", 1)
        left = await twin.send_slash_command(channel, ann, "story", subcommand="leave")
        assert await ephemeral(left) == "You left the story."
        await twin.wait_until(
            lambda: any("Bob is the host now." in str(m["embeds"]) for m in twin.history(channel)), 5.0, what="host"
        )
        assert "Your choice is made." == await click(twin, channel, bob, message_id, buttons["stay-close"])
        message_id, buttons = await prompt(twin, channel, "choose", 2, after=message_id)
        assert "Not your turn" in await click(twin, channel, ann, message_id, buttons["shield"])
    assert await rows(engine, StoryPlayer, StoryPlayer.active.is_(False)) == 1


async def test_two_sessions_in_two_channels_at_once_and_in_a_thread(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    general, lounge = world["general"].id, world["lounge"].id
    ann, bob = world["ann"].id, world["bob"].id
    async with run_bot() as bot:
        one_id, one = await open_lobby(twin, general, ann, turn_order="vote")
        two_id, two = await open_lobby(twin, lounge, bob, turn_order="list")
        again = await twin.send_slash_command(general, bob, "story", subcommand="start")
        assert "already running" in await ephemeral(again)
        await click(twin, general, ann, one_id, one["john"])
        await click(twin, lounge, ann, two_id, two["john"])  # one player, two sessions
        await click(twin, general, ann, one_id, one["start"])
        await click(twin, lounge, bob, two_id, two["start"])
        first_id, first = await prompt(twin, general, "vote", 1)
        second_id, second = await prompt(twin, lounge, "choose", 1)
        await click(twin, general, ann, first_id, first["freeway"])
        await click(twin, lounge, ann, second_id, second["think-of-sarah"])
        await prompt(twin, general, "vote", 2)
        await prompt(twin, lounge, "choose", 2)
        threaded = await twin.send_slash_command(general, bob, "story", {"thread": True}, subcommand="start")
        # general already has a session, but a new thread is a place of its own
        assert "open in" in await ephemeral(threaded)
        a = await bot.app.story.session_in(f"channel:{general}")
        b = await bot.app.story.session_in(f"channel:{lounge}")
    assert a is not None and b is not None
    assert a.state["flags"]["lookout"] == "freeway" and b.state["flags"]["lookout"] == "hospital"
    thread = next(c for c in twin.world.channels.values() if c.is_thread)
    assert components(twin.history(thread.id)[-1])["start"].startswith("t2:story:")


async def test_a_player_who_chose_john_is_never_told_of_john_in_the_third_person(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    """Every narrated post, button and outcome after the start speaks to Ann as John ("you"), never of "John"."""
    from tests.test_story_data import third_person

    channel = world["general"].id
    ann = world["ann"].id
    async with run_bot():
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["john"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        last = 0
        for scene in range(1, 9):
            last, buttons = await prompt(twin, channel, "choose", scene, after=last)
            chosen = list(buttons)[scene % len(buttons)]
            assert "Your choice is made." == await click(twin, channel, ann, last, buttons[chosen])
        await twin.wait_until(lambda: titled(twin, channel, "Epilogue"), 10.0, what="the epilogue")
    read: list[str] = []
    for message in twin.history(channel):
        if int(message["id"]) <= lobby_id or message.get("webhook_id"):
            continue  # the lobby names the roles; persona lines are the personas' own speech
        texts = [message.get("content") or ""]
        texts += [
            part for embed in message["embeds"] for part in (embed.get("title"), embed.get("description")) if part
        ]
        texts += [button.get("label", "") for row in message.get("components") or [] for button in row["components"]]
        read += [line for text in texts for line in text.splitlines() if not line.startswith("- Ann (John Connor)")]
    assert len([text for text in read if text.startswith("Scene ")]) == 8
    assert [text for text in read if third_person(text, "john")] == []
    assert any("you" in text.lower() for text in read if "Ann chose" not in text)


async def test_narration_discord_refused_is_posted_from_the_outbox_once_and_in_order(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, clock: FakeClock, engine: AsyncEngine
) -> None:
    channel, ann = world["general"].id, world["ann"].id
    bot = CompanionBot(settings.model_copy(update={"outbox_poll_s": 0.1}), clock=clock)
    async with run_client(twin, bot):
        bot.poster = PersonaPoster(bot, bot.channels, pacer=SlidingWindow(100_000, 1.0))
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["sarah"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        message_id, buttons = await prompt(twin, channel, "choose", 1)
        before = len(twin.history(channel))
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        assert "Your choice is made." == await click(twin, channel, ann, message_id, next(iter(buttons.values())))
        await prompt(twin, channel, "choose", 2, after=message_id)  # posted from the outbox, after the failure
        await asyncio.sleep(0.5)  # more passes of the outbox: nothing is posted twice
    after = twin.history(channel)[before:]
    said = [(m["content"], str(m["embeds"])) for m in after]
    assert len(said) == len(set(said)), "a message of the scene was posted twice"
    assert sum(1 for m in after if any(":2:choose:" in c for c in components(m).values())) == 1
    refused = [r for r in twin.requests if r.status == 503]
    assert len(refused) == 1 and refused[0].json.get("nonce"), "narration carries its outbox key as a nonce"
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(OutboxPost)) == 0


async def test_a_stored_choice_whose_click_can_no_longer_be_answered_still_posts_the_next_scene(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, clock: FakeClock, engine: AsyncEngine
) -> None:
    """A click Discord delivers again after a restart has expired: the choice is stored, the answer fails, and the
    scene it leads to is posted at once (not left to the outbox's next pass), once."""
    channel, ann = world["general"].id, world["ann"].id
    bot = CompanionBot(settings.model_copy(update={"outbox_poll_s": 60}), clock=clock)
    async with run_client(twin, bot):
        bot.poster = PersonaPoster(bot, bot.channels, pacer=SlidingWindow(100_000, 1.0))
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["sarah"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        message_id, buttons = await prompt(twin, channel, "choose", 1)
        before = len(twin.history(channel))
        twin.fail_next(1, status=404, code=10062, message="Unknown interaction", path_contains="/callback")
        await twin.click_button(channel, ann, message_id, next(iter(buttons.values())))
        await prompt(twin, channel, "choose", 2, after=message_id)
        await asyncio.sleep(0.3)
    assert await rows(engine, StoryEvent, StoryEvent.kind == "decision", StoryEvent.scene == 1) == 1
    assert 404 in [r.status for r in twin.requests if r.path.endswith("/callback")], "the click was not acknowledged"
    after = twin.history(channel)[before:]
    said = [(m["content"], str(m["embeds"])) for m in after]
    assert len(said) == len(set(said)), "a message of the scene was posted twice"
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(OutboxPost)) == 0


async def test_posts_the_outbox_sent_while_their_click_was_still_being_answered_are_not_posted_again(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, clock: FakeClock, engine: AsyncEngine
) -> None:
    """The outbox's loop takes stored posts older than its grace: a handler that gets to post them only later
    (its answer to the click was slow) must find them sent, persona lines (webhooks take no nonce) included."""
    channel, ann = world["general"].id, world["ann"].id
    bot = CompanionBot(settings.model_copy(update={"outbox_poll_s": 60}), clock=clock)
    async with run_client(twin, bot):
        bot.poster = PersonaPoster(bot, bot.channels, pacer=SlidingWindow(100_000, 1.0))
        lobby_id, lobby = await open_lobby(twin, channel, ann, turn_order="list")
        await click(twin, channel, ann, lobby_id, lobby["sarah"])
        await click(twin, channel, ann, lobby_id, lobby["start"])
        _, buttons = await prompt(twin, channel, "choose", 1)
        session_id = int(next(iter(buttons.values())).split(":")[2])
        outcome = await bot.app.story.choose(session_id, 1, f"discord:{ann}", next(iter(buttons)))
        assert outcome.outbox_key is not None and any(post.persona for post in outcome.posts), "a persona speaks"
        async with engine.begin() as connection:  # the answer to the click took longer than the grace
            await connection.execute(update(OutboxPost).values(created_at_ms=OutboxPost.created_at_ms - 5000))
        assert await bot.outbox.drain() == 1
        posted = len(twin.history(channel))
        cog: Any = bot.get_cog("StoryCog")  # the extension's own module: no isinstance with an import here
        place = bot.get_channel(channel)
        assert isinstance(place, discord.TextChannel)
        await cog.publish(place, outcome.posts, outcome.outbox_key)
    assert len(twin.history(channel)) == posted, "the handler posted again what the outbox had sent"
