"""``python -m bot migrate-data``: a SQLite database the bot filled, copied into PostgreSQL, row for row."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.engine import make_url

from bot.app import App, build_app
from bot.cards.export import build_card, card_json_text
from bot.config import Settings
from bot.console.chat import ConsoleChat
from bot.trivia.service import GameOptions
from db.chat import ChannelRepository
from db.chat.models import GuildSettings
from db.engine import create_engine
from db.llm import ModelRepository
from db.migrate import current_revision, head_revision, upgrade
from db.schema import metadata
from personas.roster import PERSONAS
from tests.postgres import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
GUILD, CHANNEL, REPLY_CHANNEL = 77, 1001, 500
REMEMBERING = ("discord:7", "channel:600", "sarah")
"""Whose conversation the moved memory is checked on: user, scope, persona."""
RED_LIST = b"""AUTHOR: Miles
DESCRIPTION: Things about 1995
What year is it?: [1995, ninety-five]
Who runs Cyberdyne?: [Dyson, Miles Dyson]
"""

Rows = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def source_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


@pytest.fixture
def target_url(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database."""
    url = create_database(postgres_url)
    try:
        yield url
    finally:
        drop_database(postgres_url, url)


def settings_for(url: str) -> Settings:
    return Settings(database_url=url)


def plain(url: str) -> str:
    """The URL as someone would type it: no driver name (migrate-data picks the async one)."""
    parsed = make_url(url)
    return parsed.set(drivername=parsed.drivername.split("+")[0]).render_as_string(hide_password=False)


def migrate_data(tmp_path: Path, source: str, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DISCORD_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate-data", "--from", source, "--to", target, *extra],
        capture_output=True,
        text=True,
        env={**environment, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,  # no .env of the project's folder
        timeout=180,
        check=False,
    )


async def play_in_the_console(app: App) -> None:
    """Chat, a multiple-choice trivia question and a story scene, as the console user ann."""
    script = iter(["", "who is dyson?", "/trivia choice 1", "A", "/story list", "1", "ann", "fighter", "1", "/end"])

    async def read_line(prompt: str) -> str:
        line = next(script, None)
        if line is None:
            raise EOFError
        return line

    await ConsoleChat(app, Console(file=io.StringIO(), color_system=None), read_line, "local:ann").run()


async def populate(url: str) -> None:
    """Fill every table through the bot's own services (and the repositories where no service writes yet)."""
    app = await build_app(settings_for(url))
    try:
        await play_in_the_console(app)
        user, scope, persona = REMEMBERING
        await app.chat.reply(user, scope, "Who is Dyson?", persona=persona, discord_message_id=9001)
        await app.chat.reply("discord:42", f"channel:{REPLY_CHANNEL}", "hi", discord_message_id=9002,
                             reply_channel_id=REPLY_CHANNEL)  # fmt: skip
        await app.trivia.import_list(GUILD, "nineties.yaml", RED_LIST, "discord:42")
        await app.trivia.save_settings(GUILD, GameOptions(host="sarah"))
        await app.trivia.start(CHANNEL, GUILD, "discord:42", GameOptions(questions=1, mode="open"), seed=1)
        [answer, *_] = app.trivia.current_answers(CHANNEL)
        await app.trivia.answer(CHANNEL, "discord:42", "Ann", answer)
        async with app.sessions.begin() as session:
            await ChannelRepository(session).set_auto_persona(CHANNEL, GUILD, "t800")
            await ChannelRepository(session).set_webhook(REPLY_CHANNEL, GUILD, 31337, "webhook-token")
            session.add(GuildSettings(guild_id=GUILD, default_persona="john"))
            await ModelRepository(session).set_enabled(GUILD, True)
            await ModelRepository(session).spend(GUILD, "2026-12-01", 321)
        assert app.chat.cards is not None
        card = card_json_text(build_card(PERSONAS["sarah"], app.knowledge.base, at_scene=2)).encode()
        await app.chat.cards.import_card(GUILD, card, "discord:42")
        await app.request_forget("discord:99")  # carried out at the next start, which is on PostgreSQL
    finally:
        await app.close()


def sort_key(row: tuple[Any, ...]) -> str:
    return repr(row)


async def dump(url: str) -> Rows:
    """Every row of every table of the schema as the bot reads it, in a backend-independent order."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                table.name: sorted((tuple(row) for row in await connection.execute(select(table))), key=sort_key)
                for table in metadata.sorted_tables
            }
    finally:
        await engine.dispose()


async def next_ids(url: str) -> dict[str, tuple[int, int]]:
    """For each table with a PostgreSQL id sequence: (the largest id stored, the id the sequence gives next)."""
    engine = create_engine(url)
    found: dict[str, tuple[int, int]] = {}
    try:
        async with engine.begin() as connection:
            for table in metadata.sorted_tables:
                [key, *others] = table.primary_key.columns
                if others or not isinstance(key.type, Integer):
                    continue
                sequence = await connection.scalar(select(func.pg_get_serial_sequence(table.name, key.name)))
                if sequence is not None:
                    largest = await connection.scalar(select(func.max(key)))
                    following = await connection.scalar(select(func.nextval(sequence)))
                    found[table.name] = (int(largest or 0), int(following))
    finally:
        await engine.dispose()
    return found


async def follow_up(url: str, message: str) -> tuple[list[str], list[str]]:
    """Ask the remembering user's follow-up, and the same from a user with no memory; the fact ids of both."""
    user, scope, persona = REMEMBERING
    app = await build_app(settings_for(url))
    try:
        remembered = await app.chat.reply(user, scope, message, persona=persona)
        stranger = await app.chat.reply("discord:8", scope, message, persona=persona)
    finally:
        await app.close()
    return list(remembered.fact_ids), list(stranger.fact_ids)


def test_a_database_the_bot_filled_is_copied_row_for_row_and_the_bot_goes_on_from_it(
    tmp_path: Path, source_path: Path, target_url: str
) -> None:
    source_url = f"sqlite+aiosqlite:///{source_path}"
    asyncio.run(populate(source_url))
    before = asyncio.run(dump(source_url))
    empty = [table for table, rows in before.items() if not rows]
    assert not empty, f"the bot stored nothing in {empty}: the copy of those tables is not tested"

    done = migrate_data(tmp_path, f"sqlite:///{source_path}", plain(target_url))

    assert done.returncode == 0, done.stderr
    after = asyncio.run(dump(target_url))
    for table, rows in before.items():
        assert after[table] == rows, f"{table} differs after the copy"
    for table, rows in before.items():
        assert f"{table} " in done.stdout and f" {len(rows):>9,}  {len(rows):>9,}" in done.stdout
    assert "every count matches" in done.stdout

    async def revision() -> str | None:
        engine = create_engine(target_url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(revision()) == head_revision()
    ids = asyncio.run(next_ids(target_url))
    assert {"users", "conversations", "messages", "outbox", "trivia_games", "story_sessions"} <= set(ids)
    for table, (largest, following) in ids.items():
        assert largest > 0 and following == largest + 1, f"the {table} sequence does not follow the copied ids"

    remembered, stranger = asyncio.run(follow_up(target_url, "what happened to him"))
    assert remembered and remembered[0].startswith("f-dyson"), "the reply does not use the moved memory"
    assert stranger == [], "a user without memory should not know who 'him' is"
    assert asyncio.run(follow_up(source_url, "what happened to him"))[0] == remembered, "not the reply SQLite gives"

    moved = asyncio.run(dump(target_url))
    assert moved["forget_requests"] == [], "the pending /forget-me request was not carried out on PostgreSQL"
    for table in ("users", "conversations", "messages"):
        assert len(moved[table]) > len(after[table]), f"no new {table} row could be stored after the copy"

    back = tmp_path / "back.db"  # and the other way, as a local copy of a PostgreSQL database
    assert migrate_data(tmp_path, plain(target_url), f"sqlite:///{back}").returncode == 0
    assert asyncio.run(dump(f"sqlite+aiosqlite:///{back}")) == moved


def test_a_target_holding_rows_is_refused_and_left_unchanged(
    tmp_path: Path, source_path: Path, target_url: str
) -> None:
    source_url = f"sqlite+aiosqlite:///{source_path}"
    asyncio.run(populate(source_url))

    async def older_target_with_a_row() -> None:
        engine = create_engine(target_url)
        try:
            await upgrade(engine, "0006")
            async with engine.begin() as connection:
                await connection.execute(insert(metadata.tables["users"]).values(external_id="discord:1"))
        finally:
            await engine.dispose()

    async def state() -> tuple[str | None, list[str], Rows]:
        engine = create_engine(target_url)
        try:
            async with engine.connect() as connection:
                tables = await connection.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
                )
                names = list(tables)
                users = [tuple(row) for row in await connection.execute(select(metadata.tables["users"]))]
            return await current_revision(engine), names, {"users": users}
        finally:
            await engine.dispose()

    asyncio.run(older_target_with_a_row())
    before = asyncio.run(state())

    refused = migrate_data(tmp_path, source_url, target_url)

    assert refused.returncode == 1
    assert "already holds rows (in users)" in refused.stderr and "nothing was changed" in refused.stderr
    assert asyncio.run(state()) == before, "the target was changed (not even its revision may move)"
    assert before[0] == "0006" and "outbox" not in before[1]


def test_a_source_behind_the_newest_revision_is_refused_and_not_upgraded(tmp_path: Path) -> None:
    source, target = tmp_path / "old.db", tmp_path / "new.db"

    async def old_source() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{source}")
        try:
            await upgrade(engine, "0006")
        finally:
            await engine.dispose()

    async def revision(path: Path) -> str | None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    asyncio.run(old_source())

    refused = migrate_data(tmp_path, f"sqlite:///{source}", f"sqlite:///{target}")

    assert refused.returncode == 1
    assert "at revision 0006, not at the newest" in refused.stderr and "python -m bot migrate" in refused.stderr
    assert asyncio.run(revision(source)) == "0006"
    assert not target.exists() or asyncio.run(revision(target)) is None


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("mysql://db/bot", "sqlite:///x.db", "--from: unsupported scheme 'mysql'"),
        ("sqlite:///bot.db", "sqlite://", "--to: an in-memory SQLite database"),
        ("sqlite:///missing.db", "sqlite:///x.db", "the source database missing.db does not exist"),
        ("sqlite:///bot.db", "sqlite:///./bot.db", "the source and the target are the same database"),
    ],
)
def test_wrong_urls_are_named_and_nothing_is_created(tmp_path: Path, source: str, target: str, message: str) -> None:
    (tmp_path / "bot.db").touch()

    refused = migrate_data(tmp_path, source, target)

    assert refused.returncode != 0 and message in refused.stderr
    files = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}
    assert files == {Path("bot.db")}, "a database was created"
