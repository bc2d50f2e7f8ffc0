"""Faults reach the user: a database or Discord that fails is told in the persona's voice, with a reference.

Faults are injected at the real boundary, never by patching the bot: SQLite's write lock is held from a second
connection (``BEGIN IMMEDIATE``) for longer than the bot's database timeout, a trigger makes an insert fail
(``RAISE(ABORT, ...)``), PostgreSQL tables are locked from another connection (``LOCK TABLE``) or the bot's
connections are ended (``pg_terminate_backend``), and the Discord twin holds a request past the bot's timeout.
Each test checks what the user sees, that the log has the reference, that nothing half is stored (and memory
matches what is stored), and that the next attempt works once the fault is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.discord.client import CompanionBot
from bot.discord.personas_out import PersonaPoster
from bot.faults import retryable
from bot.limits import SlidingWindow
from bot.trivia.service import GameOptions, TriviaService
from db.chat.models import Message
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from db.story.models import StoryEvent, StorySession
from db.trivia.models import TriviaChoice, TriviaGame, TriviaScore
from personas.factbase import FactBase
from personas.roster import PERSONAS
from tests.clock import FakeClock
from tests.twin import DiscordTwin, TwinInteraction, run_client

pytest_plugins = ["tests.twin.fixtures"]

REF = re.compile(r"\(ref ([0-9A-F]{8})\)$")
DB_TIMEOUT_S = 0.3
"""The bot's database timeout in these tests; the lock is held longer than that."""
BOUND_S = 3.0
"""A failure must reach the user within this (well under the 5 s default, so the setting is what bounds it)."""

RunBot = Callable[..., AbstractAsyncContextManager[CompanionBot]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "faults.db"


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        discord_token="twin-token",
        db_timeout_s=DB_TIMEOUT_S,
        outbox_poll_s=0.2,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run_bot(twin: DiscordTwin, settings: Settings, clock: FakeClock) -> RunBot:
    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[CompanionBot]:
        bot = CompanionBot(settings.model_copy(update=overrides), clock=clock)
        async with run_client(twin, bot):
            bot.poster = PersonaPoster(bot, bot.channels, pacer=SlidingWindow(100_000, 1.0))
            yield bot

    return start


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    return {
        "guild": guild,
        "general": twin.add_text_channel(guild.id, "general"),
        "alice": twin.add_member(guild.id, name="alice"),
        "bob": twin.add_member(guild.id, name="bob"),
    }


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another program writing to the SQLite file: its write lock held until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@contextlib.asynccontextmanager
async def failing_inserts(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """A trigger that makes every insert into ``table`` fail, dropped when the block ends."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            f"CREATE TRIGGER injected_fault BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected'); END"
        )
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TRIGGER injected_fault")


def retry_ref(said: str, persona: str) -> str:
    """The reference at the end of a persona's "try again" line (fails if it is not one)."""
    found = REF.search(said)
    assert found is not None, said
    line = said[: found.start()].strip()
    assert line in PERSONAS[persona].voice.retry, (persona, said)
    return found.group(1)


def logged(caplog: pytest.LogCaptureFixture, ref: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if ref in record.getMessage()]


async def count(engine: AsyncEngine, model: type[object], *where: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def ephemeral(interaction: TwinInteraction) -> dict[str, Any]:
    """The first ephemeral answer to an interaction that has text."""

    def content(response: dict[str, Any]) -> str:
        return str(response["data"].get("content") or (response["message"] or {}).get("content") or "")

    found = await interaction.twin.wait_until(
        lambda: next((r for r in interaction.responses if r["ephemeral"] and content(r)), None),
        10.0,
        what="an ephemeral answer",
    )
    return {"ephemeral": found["ephemeral"], "content": content(found)}


def mention(twin: DiscordTwin) -> str:
    return f"<@{twin.bot_user.id}>"


# ----------------------------------------------------------------------------------------------------- chat


async def test_a_mention_while_the_database_is_locked_is_told_to_try_again_in_character(
    twin: DiscordTwin,
    world: dict[str, Any],
    run_bot: RunBot,
    engine: AsyncEngine,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    question = f"{mention(twin)} sarah, where did you plan to take John?"
    async with run_bot():
        with caplog.at_level(logging.WARNING), write_lock_held(db_path):
            started = time.monotonic()
            await twin.send_message(channel, alice, question)
            [told] = await twin.wait_for_messages(channel, 1)
            took = time.monotonic() - started
        assert await count(engine, Message) == 0, "nothing of the failed turn is stored"
        await twin.send_message(channel, alice, question)
        [_, reply] = await twin.wait_for_messages(channel, 2)
    assert took < BOUND_S
    assert told["embeds"][0]["author"]["name"] == "Sarah Connor"
    ref = retry_ref(told["embeds"][0]["description"], "sarah")
    assert told["message_reference"]["message_id"] is not None
    assert "Traceback" not in str(told) and logged(caplog, ref)
    assert reply["raw"]["username"] == "Sarah Connor" and "Mexico" in reply["content"]
    assert await count(engine, Message) == 2


async def test_a_reply_that_discord_holds_too_long_goes_out_from_the_outbox(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot(discord_timeout_s=0.5) as bot:
        twin.fail_next(status=500, hang=5.0, path_contains="/webhooks/", method="POST")
        with caplog.at_level(logging.WARNING, logger="bot.discord.outbox"):
            started = time.monotonic()
            await twin.send_message(channel, alice, f"{mention(twin)} sarah, where did you plan to take John?")
            await twin.wait_until(lambda: bot._in_flight == set() or None, 5.0, what="the handler to end")
            handled = time.monotonic() - started
            [reply] = await twin.wait_for_messages(channel, 1, timeout=10.0)
    assert handled < BOUND_S, "the hung post did not hold the handler"
    assert "Mexico" in reply["content"]
    assert any("it is sent from the outbox" in r.getMessage() for r in caplog.records)


async def test_a_rate_limit_wait_longer_than_the_discord_timeout_is_still_waited(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot(discord_timeout_s=0.5):
        twin.fail_next(status=429, retry_after=1.0, path_contains="/webhooks/", method="POST")
        with caplog.at_level(logging.WARNING, logger="bot.discord.outbox"):
            await twin.send_message(channel, alice, f"{mention(twin)} sarah, where did you plan to take John?")
            [reply] = await twin.wait_for_messages(channel, 1)
    assert "Mexico" in reply["content"]
    assert not any("outbox" in r.getMessage() for r in caplog.records), "posted at once, after the 429's wait"


# --------------------------------------------------------------------------------------------------- trivia


async def test_a_right_answer_the_database_cannot_store_is_told_to_retry_and_scores_once_it_can(
    twin: DiscordTwin,
    world: dict[str, Any],
    run_bot: RunBot,
    engine: AsyncEngine,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    async with run_bot() as bot:
        start = await twin.send_slash_command(channel, alice, "trivia", {"questions": 2}, subcommand="start")
        await start.wait_for_answers(1)
        await twin.wait_for_messages(channel, 1)
        async with engine.connect() as connection:
            questions = await connection.scalar(select(TriviaGame.questions))
        answer = questions[0]["a"][0]
        with caplog.at_level(logging.WARNING), write_lock_held(db_path):
            started = time.monotonic()
            await twin.send_message(channel, bob, answer)
            [told] = await twin.wait_until(
                lambda: (
                    [m for m in twin.history(channel) if m["embeds"] and REF.search(m["embeds"][0]["description"])]
                    or None
                ),
                5.0,
                what="the host's retry message",
            )
            took = time.monotonic() - started
        live = bot.app.trivia._games.in_channel(channel)
        assert live is not None and (live.index, live.phase, live.points) == (0, "ask", {})
        async with engine.connect() as connection:
            stored = (await connection.execute(select(TriviaGame.question_index, TriviaGame.phase))).one()
        assert tuple(stored) == (0, "ask") and await count(engine, TriviaScore) == 0
        await twin.send_message(channel, bob, answer)
        correct = await twin.wait_until(
            lambda: next((m for m in twin.history(channel) if "bob" in m["content"].lower()), None),
            5.0,
            what="the right answer announced",
        )
    assert took < BOUND_S
    assert told["embeds"][0]["author"]["name"] == "T-800"
    ref = retry_ref(told["embeds"][0]["description"], "t800")
    assert logged(caplog, ref)
    assert "10 points" in correct["content"]
    async with engine.connect() as connection:
        assert (await connection.scalar(select(TriviaScore.points).where(TriviaScore.user == f"discord:{bob}"))) == 10


async def test_a_choice_press_the_database_refuses_is_told_to_retry_and_counts_once_it_can(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    async with run_bot() as bot:
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "mode": "choice", "host": "john"}, subcommand="start"
        )
        await start.wait_for_answers(1)
        [asked] = await twin.wait_for_messages(channel, 1)
        buttons = [c["custom_id"] for row in asked["components"] for c in row["components"]]
        async with engine.connect() as connection:
            right = (await connection.scalar(select(TriviaGame.questions)))[0]["correct"]
        with caplog.at_level(logging.WARNING):
            async with failing_inserts(engine, "trivia_choices"):
                told = await ephemeral(await twin.click_button(channel, bob, int(asked["id"]), buttons[right]))
                live = bot.app.trivia._games.in_channel(channel)
                assert live is not None and live.answered == set() and live.points == {}
                assert await count(engine, TriviaChoice) == 0 and await count(engine, TriviaScore) == 0
        again = await ephemeral(await twin.click_button(channel, bob, int(asked["id"]), buttons[right]))
    assert told["ephemeral"] is True
    ref = retry_ref(told["content"], "john")
    assert logged(caplog, ref)
    assert "Locked in" in again["content"]
    assert await count(engine, TriviaChoice) == 1


async def test_a_slash_command_while_the_database_is_locked_is_told_to_retry_and_works_after(
    twin: DiscordTwin,
    world: dict[str, Any],
    run_bot: RunBot,
    engine: AsyncEngine,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot():
        with caplog.at_level(logging.WARNING), write_lock_held(db_path):
            told = await ephemeral(await twin.send_slash_command(channel, alice, "trivia", subcommand="start"))
        assert await count(engine, TriviaGame) == 0
        start = await twin.send_slash_command(channel, alice, "trivia", subcommand="start")
        [opened] = await start.wait_for_answers(1)
    ref = retry_ref(told["content"], "t800")
    assert any(ref in line and "/trivia start" in line for line in logged(caplog, ref))
    assert opened["ephemeral"] is False and await count(engine, TriviaGame) == 1


# ---------------------------------------------------------------------------------------------------- story


async def test_a_story_choice_the_database_refuses_changes_nothing_and_works_after(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot() as bot:
        started = await twin.send_slash_command(channel, alice, "story", {"turn_order": "list"}, subcommand="start")
        await started.wait_for_answers(1)
        lobby = started.original_message
        assert lobby is not None
        ids = {c["custom_id"].rsplit(":", 1)[1]: c["custom_id"] for r in lobby["components"] for c in r["components"]}
        await ephemeral(await twin.click_button(channel, alice, int(lobby["id"]), ids["john"]))
        await ephemeral(await twin.click_button(channel, alice, int(lobby["id"]), ids["start"]))
        prompt = await twin.wait_until(
            lambda: next((m for m in twin.history(channel) if ":1:choose:" in str(m["components"])), None),
            5.0,
            what="the first decision",
        )
        choices = [c["custom_id"] for row in prompt["components"] for c in row["components"]]
        before = await count(engine, StoryEvent)
        with caplog.at_level(logging.WARNING):
            async with failing_inserts(engine, "story_events"):
                told = await ephemeral(await twin.click_button(channel, alice, int(prompt["id"]), choices[0]))
        async with engine.connect() as connection:
            stored = (
                await connection.execute(select(StorySession.id, StorySession.scene, StorySession.event_seq))
            ).one()
        kept = bot.app.story._store.copy(stored.id)
        assert (kept.scene, kept.event_seq) == (stored.scene, stored.event_seq) == (1, kept.event_seq)
        assert await count(engine, StoryEvent) == before
        again = await ephemeral(await twin.click_button(channel, alice, int(prompt["id"]), choices[0]))
        async with engine.connect() as connection:
            scene = await connection.scalar(select(StorySession.scene))
    ref = retry_ref(told["content"], "john")
    assert logged(caplog, ref)
    assert again["content"] == "Your choice is made." and scene == 2


# ------------------------------------------------------------------------------------ both backends, no Discord


@contextlib.asynccontextmanager
async def tables_locked(database_url: str, *tables: str) -> AsyncIterator[None]:
    """Another client holding ``tables`` locked: SQLite's write lock, or PostgreSQL's LOCK TABLE."""
    if database_url.startswith("sqlite"):
        with write_lock_held(Path(database_url.split("///", 1)[1])):
            yield
        return
    other = create_engine(database_url)
    try:
        async with other.connect() as connection, connection.begin():
            await connection.execute(text(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        await other.dispose()


async def test_a_locked_database_fails_a_right_answer_in_time_and_leaves_the_game_whole(
    database_url: str, fact_base: FactBase
) -> None:
    setup = create_engine(database_url)
    await upgrade(setup)
    await setup.dispose()
    engine = create_engine(database_url, timeout_s=DB_TIMEOUT_S)
    clock = FakeClock()
    trivia = TriviaService(create_session_factory(engine), fact_base, clock=clock, seed=3)
    try:
        await trivia.start(1, 1, "u:starter", GameOptions(questions=2))
        answer = trivia.current_answers(1)[0]
        async with tables_locked(database_url, "trivia_games", "trivia_scores", "trivia_stats"):
            started = time.monotonic()
            with pytest.raises(Exception) as failed:
                await trivia.answer(1, "u:ann", "ann", answer)
            took = time.monotonic() - started
        assert retryable(failed.value) and took < BOUND_S
        live = trivia._games.in_channel(1)
        assert live is not None and (live.index, live.phase, live.points) == (0, "ask", {})
        async with engine.connect() as connection:
            assert tuple((await connection.execute(select(TriviaGame.question_index, TriviaGame.phase))).one()) == (
                0,
                "ask",
            )
            assert await connection.scalar(select(func.count()).select_from(TriviaScore)) == 0
        said = await trivia.answer(1, "u:ann", "ann", answer)
        assert [a.kind for a in said] == ["correct"]
    finally:
        await trivia.suspend()
        await engine.dispose()


async def test_postgres_connections_ended_under_the_bot_are_replaced(postgres_url: str, fact_base: FactBase) -> None:
    from tests.postgres import create_database, drop_database

    url = create_database(postgres_url)
    try:
        setup = create_engine(url)
        await upgrade(setup)
        await setup.dispose()
        engine = create_engine(url, timeout_s=DB_TIMEOUT_S)
        trivia = TriviaService(create_session_factory(engine), fact_base, clock=FakeClock(), seed=3)
        try:
            await trivia.start(1, 1, "u:starter", GameOptions(questions=2))
            killer = create_engine(url)
            try:
                async with killer.connect() as connection:
                    ended = await connection.scalar(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    )
            finally:
                await killer.dispose()
            assert ended >= 1
            await asyncio.sleep(0.1)
            said = await trivia.answer(1, "u:ann", "ann", trivia.current_answers(1)[0])
            assert [a.kind for a in said] == ["correct"]
        finally:
            await trivia.suspend()
            await engine.dispose()
    finally:
        drop_database(postgres_url, url)


async def test_a_press_that_is_stored_stays_counted_when_closing_the_question_early_fails(
    sqlite_url: str, fact_base: FactBase
) -> None:
    engine = create_engine(sqlite_url, timeout_s=DB_TIMEOUT_S)
    await upgrade(engine)
    clock = FakeClock()
    trivia = TriviaService(create_session_factory(engine), fact_base, clock=clock, seed=3)
    try:
        [_, asked] = await trivia.start(1, 1, "u:ann", GameOptions(questions=3, mode="choice", seconds=30))
        assert (await trivia.choose(asked.game_id, 0, 0, "u:ann", "ann")).accepted
        clock.advance(31)
        await trivia.tick()  # the first question closes at its deadline
        clock.advance(5)
        await trivia.tick()  # the second is asked; ann, the only player, answering it closes it at once
        live = trivia._games.in_channel(1)
        assert live is not None and (live.index, live.phase) == (1, "ask")
        async with engine.begin() as connection:  # closing a question (its phase changing) fails
            await connection.exec_driver_sql(
                "CREATE TRIGGER injected_fault BEFORE UPDATE OF phase ON trivia_games "
                "BEGIN SELECT RAISE(ABORT, 'injected'); END"
            )
        result = await trivia.choose(asked.game_id, 1, 0, "u:ann", "ann")
        assert result.accepted and "revealed when time is up" in result.text and not result.announcements
        assert live.answered == {"u:ann"} and live.phase == "ask"
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(TriviaChoice)) == 2
            assert await connection.scalar(select(TriviaGame.phase)) == "ask"
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TRIGGER injected_fault")
        again = await trivia.choose(asked.game_id, 1, 1, "u:ann", "ann")
        assert not again.accepted and "already answered" in again.text
        clock.advance(31)
        said = await trivia.tick()  # the question closes at its deadline once the database takes it
        assert [a.kind for a in said][:1] == ["reveal"]
    finally:
        await trivia.suspend()
        await engine.dispose()
