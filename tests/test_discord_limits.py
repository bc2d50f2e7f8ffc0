"""Answers at their longest, and answers while the database is busy: the real bot against the twin, on real SQLite.

Discord refuses a message over its limits (2,000 characters of content; embeds of 4,096 characters of
description, 25 fields of 1,024, 6,000 in all) with 50035 Invalid Form Body, and forgets an interaction not
acknowledged within 3 s. The twin does both, so here every answer must fit, and commands must acknowledge
(defer) before they wait on the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.discord.client import CompanionBot
from bot.discord.cogs.story.buttons import narration_messages
from bot.story import Post, Prompt
from db.chat.models import Message
from personas.factbase import FactBase
from tests.twin import DiscordTwin, Upload, run_client
from tests.twin.interactions import TwinInteraction
from tests.twin.rest import validate_message

pytest_plugins = ["tests.twin.fixtures"]

RunBot = Callable[[], AbstractAsyncContextManager[CompanionBot]]
DISCORD_OPTION_CHARS = 6000
"""The longest text a string option of a slash command can carry."""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "limits.db"


@pytest.fixture
def settings(database: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{database}", discord_token="twin-token")


@pytest.fixture
def run_bot(twin: DiscordTwin, settings: Settings) -> RunBot:
    return lambda: run_client(twin, CompanionBot(settings))


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    return {
        "guild": guild,
        "general": twin.add_text_channel(guild.id, "general"),
        "alice": twin.add_member(guild.id, name="alice"),
        "admin": twin.add_member(guild.id, name="admin", manage_guild=True),
    }


async def answers(interaction: TwinInteraction, parts: int = 1) -> list[dict[str, Any]]:
    """The interaction's responses once it is answered (past a deferral) with ``parts`` messages."""
    await interaction.wait_for_answers(parts, timeout=15)
    return interaction.responses


def text_of(responses: list[dict[str, Any]]) -> str:
    return "\n".join(str(r["data"].get("content") or "") for r in responses)


def assert_fits(twin: DiscordTwin, responses: list[dict[str, Any]]) -> None:
    """Each answer is within Discord's limits, and Discord refused none of the bot's requests."""
    for response in responses:
        validate_message(response["data"], [], allow_empty=True)
    refused = [(r.method, r.path, r.status, r.response) for r in twin.requests if r.status >= 400]
    assert refused == []


async def test_why_after_a_reply_resting_on_every_fact_lists_them_all_in_messages_that_fit(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, fact_base: FactBase
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    every_fact = [fact.id for fact in fact_base.facts]
    async with run_bot():
        talk = await twin.send_slash_command(channel, alice, "talk", {"persona": "sarah", "message": "Who is Dyson?"})
        await answers(talk)
        async with engine.begin() as connection:
            last = await connection.scalar(select(Message.id).where(Message.role != "user").order_by(Message.id.desc()))
            await connection.execute(update(Message).where(Message.id == last).values(fact_ids=every_fact))
        why = await twin.send_slash_command(channel, alice, "why")
        await twin.wait_until(lambda: f"**{every_fact[-1]}**" in text_of(why.responses), 15, what="the last fact")
        shown = why.responses
    assert_fits(twin, shown)
    listed = text_of(shown)
    assert len(listed) > 2000, "the worst case needs more than one message"
    assert all(f"**{fact_id}**" in listed for fact_id in every_fact)
    assert all(r["ephemeral"] for r in shown)


async def test_refusals_that_repeat_what_was_typed_fit(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, admin = world["general"].id, world["admin"].id
    unknown = ("judgment-day-" * 500)[:DISCORD_OPTION_CHARS]
    bad_config = yaml.safe_dump({"Who built the T-1000?": ["Skynet"], "CONFIG": {"k" * 5000: "v" * 5000}})
    async with run_bot():
        start = await twin.send_slash_command(channel, admin, "trivia", {"lists": unknown}, subcommand="start")
        started = await answers(start)
        repeated = await twin.send_slash_command(
            channel, admin, "trivia", {"lists": "plot, " * 999}, subcommand="settings"
        )
        saved = await answers(repeated)
        upload = Upload("q" * 900 + ".yaml", bad_config.encode())
        imported = await twin.send_slash_command(channel, admin, "trivia", {"file": upload}, subcommand="import")
        refused = await answers(imported)
    assert_fits(twin, [*started, *saved, *refused])
    assert "There is no list called" in text_of(started)
    assert "lists plot, hosted" in text_of(saved)
    assert "unknown CONFIG key" in text_of(refused)


async def test_the_lists_of_a_server_with_many_long_lists_fit_in_one_message(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, admin = world["general"].id, world["admin"].id
    async with run_bot() as bot:
        for number in range(30):
            data = {"AUTHOR": "a" * 200, "DESCRIPTION": "d" * 2000, f"Question {number}?": ["answer"]}
            await bot.app.trivia.import_list(
                world["guild"].id, f"list-{number:02}.yaml", yaml.safe_dump(data).encode(), "t"
            )
        listing = await twin.send_slash_command(channel, admin, "trivia", subcommand="lists")
        shown = await answers(listing)
    assert_fits(twin, shown)
    [answer] = [r for r in shown if r["data"].get("content")]
    lines = answer["data"]["content"].split("\n")
    assert lines[0].startswith("**plot**") and lines[1].startswith("**list-00**")
    assert lines[-1] == f"... and {31 - (len(lines) - 1)} more lists"


def test_narration_longer_than_one_message_holds_goes_on_in_the_next() -> None:
    prompt = Prompt(1, 3, "vote", (("a", "Run"), ("b", "Hide")))
    posts = [
        Post("Scene three. " * 100, None, "The mall"),
        Post("An epilogue that goes on. " * 400, None, "Epilogue"),
        Post("Choose.", None, None, prompt),
    ]
    messages = narration_messages(posts)
    sent = [message for message in messages if isinstance(message, tuple)]
    assert len(sent) == len(messages) > 2
    for embeds, _ in sent:
        validate_message({"embeds": [embed.to_dict() for embed in embeds]}, [])
    told = "".join(embed.description or "" for embeds, _ in sent for embed in embeds)
    assert told == "".join(post.text for post in posts)
    assert [shown_prompt for _, shown_prompt in sent] == [None] * (len(sent) - 1) + [prompt]


@contextmanager
def database_locked(path: Path) -> Iterator[None]:
    """Another process holds the SQLite write lock: every write of the bot waits until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_commands_are_acknowledged_while_the_database_is_busy_and_answered_once_it_is_free(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, database: Path
) -> None:
    channel, alice, admin = world["general"].id, world["alice"].id, world["admin"].id
    commands: list[tuple[int, str, dict[str, Any], str | None]] = [
        (alice, "talk", {"persona": "t800", "message": "What are you?"}, None),
        (alice, "persona", {"persona": "sarah"}, "set"),
        (admin, "persona", {"persona": "john"}, "channel"),
        (admin, "trivia", {"questions": 3, "mode": "choice"}, "start"),
        (admin, "trivia", {"seconds": 20}, "settings"),
    ]
    async with run_bot():
        twin.callback_deadline = 1.0  # Discord allows 3 s; the lock is held until every command is acknowledged
        with database_locked(database):
            sent = [
                await twin.send_slash_command(channel, user, name, options, subcommand=sub)
                for user, name, options, sub in commands
            ]
            acknowledged = [(await interaction.wait_for_responses(1, timeout=10))[0] for interaction in sent]
        answered = [await answers(interaction) for interaction in sent]
    assert [(r["kind"], r["type"]) for r in acknowledged] == [("callback", 5)] * len(commands)
    assert all(len(responses) >= 2 for responses in answered), "each answer followed once the database was free"
    assert_fits(twin, [r for responses in answered for r in responses])
