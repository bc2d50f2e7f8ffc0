"""ChatService, the `ask` command and the console, on real SQLite files migrated by Alembic."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from rich.console import Console
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.chat import UnknownPersonaError
from bot.config import Settings
from bot.console.chat import ConsoleChat
from db.chat import ConversationRepository
from db.chat.models import Conversation, Memory, Message, User
from personas.factbase import load_fact_base

ROOT = Path(__file__).resolve().parent.parent

ABOUT_DYSON = frozenset(fact.id for fact in load_fact_base().facts if fact.entities[0] == "dyson")
"""The facts that answer "Who is Dyson?": those about Dyson first."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/chat.db")


@pytest_asyncio.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    built = await build_app(settings)
    yield built
    await built.close()


async def count(app: App, model: type[object]) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_turn_stores_both_messages_with_the_facts_used(app: App) -> None:
    reply = await app.chat.reply("discord:1", "channel:9", "Who is Dyson?", persona="sarah")
    assert reply.persona.id == "sarah"
    assert set(reply.fact_ids) & ABOUT_DYSON
    async with app.sessions() as session:
        rows = (await session.scalars(select(Message).order_by(Message.id))).all()
    assert [(row.role, row.persona) for row in rows] == [("user", None), ("persona", "sarah")]
    assert rows[0].text == "Who is Dyson?"
    assert rows[1].text == reply.text
    assert rows[1].fact_ids == list(reply.fact_ids)
    persona, facts = await app.chat.why("discord:1", "channel:9")
    assert persona is not None and persona.id == "sarah"
    assert [fact.id for fact in facts] == list(reply.fact_ids)


async def test_why_is_per_place_and_empty_before_any_reply(app: App) -> None:
    assert await app.chat.why("discord:1", "channel:9") == (None, [])
    await app.chat.reply("discord:1", "channel:9", "hi", persona="t800")
    persona, facts = await app.chat.why("discord:1", "channel:9")
    assert persona is not None and persona.id == "t800" and facts == []
    assert await app.chat.why("discord:1", "dm:1") == (None, [])


async def test_memory_survives_a_restart_on_the_same_database(settings: Settings) -> None:
    first = await build_app(settings)
    await first.chat.reply("local:ann", "console", "Who is Dyson?", persona="sarah")
    await first.close()
    second = await build_app(settings)
    try:
        reply = await second.chat.reply("local:ann", "console", "What happened to him?", persona="sarah")
        assert reply.fact_ids
        assert "dyson" in second.knowledge.base.fact(reply.fact_ids[0]).entities
        async with second.sessions() as session:
            assert await session.scalar(select(Memory.turn)) == 2
    finally:
        await second.close()


async def test_concurrent_turns_of_one_conversation_run_in_order(app: App) -> None:
    questions = [f"question {number}: when is judgment day?" for number in range(30)]
    await asyncio.gather(*(app.chat.reply("discord:5", "dm:5", q, persona="t800") for q in questions))
    async with app.sessions() as session:
        assert await session.scalar(select(Memory.turn)) == 30
        stored = (await session.scalars(select(Message.text).where(Message.role == "user"))).all()
    assert sorted(stored) == sorted(questions)


async def test_many_conversations_share_commits_and_lose_nothing(app: App) -> None:
    await asyncio.gather(
        *(app.chat.reply(f"discord:{user}", "channel:1", "What is Skynet?", persona="john") for user in range(120))
    )
    assert await count(app, Message) == 240
    assert await count(app, Conversation) == 120
    assert await count(app, User) == 120


async def test_a_leading_name_picks_the_persona(app: App) -> None:
    reply = await app.chat.reply("discord:2", "channel:1", "sarah, where did you plan to take John?", persona="john")
    assert reply.persona.id == "sarah"
    assert "f-sarah-plans-mexico" in reply.fact_ids


async def test_default_persona_is_remembered(app: App) -> None:
    assert (await app.chat.reply("discord:3", "dm:3", "hi")).persona.id == "john"
    await app.chat.set_default_persona("discord:3", "T-800")
    assert await app.chat.default_persona("discord:3") == "t800"
    assert (await app.chat.reply("discord:3", "dm:3", "hi")).persona.id == "t800"
    with pytest.raises(UnknownPersonaError, match="Choose one of"):
        await app.chat.set_default_persona("discord:3", "nobody")


async def test_forget_removes_every_row_of_that_user_only(app: App) -> None:
    await app.chat.reply("discord:7", "dm:7", "Who is Dyson?", persona="sarah")
    await app.chat.reply("discord:7", "channel:1", "hi", persona="john")
    await app.chat.reply("discord:8", "dm:8", "hi", persona="john")
    assert await app.chat.forget("discord:7") == 4
    assert await count(app, User) == 1
    assert await count(app, Message) == 2
    assert await count(app, Memory) == 1
    assert (await app.chat.export("discord:7"))["conversations"] == []
    reply = await app.chat.reply("discord:7", "dm:7", "hi", persona="sarah")
    assert reply.kind == "greetings"
    async with app.sessions() as session:
        turns = (await session.scalars(select(Memory.turn).order_by(Memory.conversation_id))).all()
    assert sorted(turns) == [1, 1]


async def test_export_lists_conversations_with_messages(app: App) -> None:
    await app.chat.reply("discord:9", "dm:9", "When is Judgment Day?", persona="t800")
    data = await app.chat.export("discord:9")
    json.dumps(data)
    (conversation,) = data["conversations"]
    assert conversation["persona"] == "t800" and conversation["scope"] == "dm:9"
    assert [m["role"] for m in conversation["messages"]] == ["user", "persona"]
    assert conversation["messages"][1]["fact_ids"] == ["f-judgment-day-date"]


async def test_hostile_text_is_stored_verbatim_and_answered(app: App) -> None:
    hostile = "'; DROP TABLE messages; -- @everyone <@1> " + "x" * 5000
    reply = await app.chat.reply("discord:4", "dm:4", hostile, persona="john")
    assert "@" not in reply.text
    async with app.sessions() as session:
        stored = await session.scalar(select(Message.text).where(Message.role == "user"))
    assert stored is not None and stored == hostile[:4000]


# --- the command line, as separate processes -------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {key: value for key, value in os.environ.items() if key not in ("DISCORD_TOKEN", "LOG_LEVEL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    yield env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None) -> str:
    return run_cli_process(env, *args, stdin=stdin, cwd=cwd).stdout


def run_cli_process(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_ask_continues_the_same_conversation_across_processes(cli_env: dict[str, str]) -> None:
    first = json.loads(run_cli(cli_env, "ask", "--persona", "sarah", "--user", "ann", "--json", "Who is Dyson?"))
    assert first["persona"] == "sarah" and set(first["fact_ids"]) & ABOUT_DYSON
    second = json.loads(
        run_cli(cli_env, "ask", "--persona", "sarah", "--user", "ann", "--json", "what happened to him")
    )
    assert second["fact_ids"] and second["fact_ids"][0].startswith("f-dyson")
    other = json.loads(run_cli(cli_env, "ask", "--persona", "sarah", "--user", "bob", "--json", "what happened to him"))
    assert other["fact_ids"] == []


def test_ask_reads_one_message_per_line_from_stdin(cli_env: dict[str, str]) -> None:
    output = run_cli(cli_env, "ask", "--persona", "t800", "--json", stdin="hi\nWhen is Judgment Day?\nand then?\n")
    replies = [json.loads(line) for line in output.splitlines()]
    assert len(replies) == 3
    assert all(set(reply) == {"persona", "reply", "fact_ids"} for reply in replies)
    assert replies[0]["fact_ids"] == [] and replies[1]["fact_ids"] == ["f-judgment-day-date"]
    assert replies[2]["fact_ids"] and replies[2]["fact_ids"] != replies[1]["fact_ids"]


def test_ask_plain_output_names_the_persona(cli_env: dict[str, str]) -> None:
    assert run_cli(cli_env, "ask", "--persona", "john", "hi").startswith("John Connor: ")


def test_default_database_is_created_under_data(tmp_path: Path, cli_env: dict[str, str]) -> None:
    del cli_env["DATABASE_URL"]
    run_cli(cli_env, "ask", "hi", cwd=tmp_path)
    assert (tmp_path / "data" / "t2-companion.db").is_file()


def test_migrate_and_export_commands(cli_env: dict[str, str]) -> None:
    assert "database at revision" in run_cli(cli_env, "migrate")
    run_cli(cli_env, "ask", "--user", "zoe", "--persona", "sarah", "Who is Dyson?")
    exported = json.loads(run_cli(cli_env, "export", "--user", "zoe"))
    assert exported["user"] == "local:zoe"
    assert exported["conversations"][0]["messages"][0]["text"] == "Who is Dyson?"
    assert "revision base" in run_cli(cli_env, "migrate", "--downgrade", "base")


def test_ask_rejects_an_unknown_persona_with_one_line(cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--persona", "nobody", "hi"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "nobody" in result.stderr and "Traceback" not in result.stderr


# --- the console front end, driven by scripted input ------------------------------------------


async def test_console_session(app: App) -> None:
    script = iter(["2", "Who is Dyson?", "/why", "/persona t800", "When is Judgment Day?", "/persona nobody", "/quit"])

    async def read_line(prompt: str) -> str:
        return next(script)

    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    await ConsoleChat(app, console, read_line, "local:tester").run()
    text = out.getvalue()
    assert "Sarah Connor:" in text
    assert any(fact_id in text for fact_id in ABOUT_DYSON)
    assert "Now talking to T-800." in text
    assert "T-800:" in text
    assert "Unknown persona 'nobody'" in text
    assert await count(app, Message) == 4


async def test_console_ends_at_end_of_input(app: App) -> None:
    async def read_line(prompt: str) -> str:
        raise EOFError

    out = io.StringIO()
    await ConsoleChat(app, Console(file=out, color_system=None), read_line, "local:tester").run()
    assert "t2-companion" in out.getvalue()


def test_ask_does_not_import_discord(cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "ask", "hi"],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "sqlalchemy" in imported
    assert not [name for name in imported if name.split(".")[0] in ("discord", "aiohttp")]


async def test_the_whole_chat_service_on_both_backends(database_url: str) -> None:
    app = await build_app(Settings(database_url=database_url))
    try:
        users = [f"discord:{number}" for number in range(40)]
        first = await asyncio.gather(
            *(app.chat.reply(user, "channel:1", "Who is Dyson?", persona="sarah") for user in users)
        )
        assert all(set(reply.fact_ids) & ABOUT_DYSON for reply in first)
        follow = await app.chat.reply(users[0], "channel:1", "what happened to him?", persona="sarah")
        assert follow.fact_ids and follow.fact_ids[0].startswith("f-dyson")
        await app.chat.set_default_persona(users[1], "t800")
        assert (await app.chat.reply(users[1], "dm:2", "hi\x00 there")).persona.id == "t800"
        assert await count(app, Message) == 2 * 40 + 4
        assert await app.chat.forget(users[0]) == 4
        assert (await app.chat.export(users[0]))["conversations"] == []
    finally:
        await app.close()
    again = await build_app(Settings(database_url=database_url))
    try:
        reply = await again.chat.reply(users[2], "channel:1", "and then?", persona="sarah")
        assert reply.kind == "follow_up"
        assert await count(again, User) == 39
    finally:
        await again.close()


async def test_console_plays_trivia_and_a_story_then_returns_to_chat(settings: Settings) -> None:
    app = await build_app(settings)
    script = iter(
        [
            "",  # John
            "/trivia open 1",
            "/skip",
            "/story list",
            "1",  # one player at the keyboard
            "Ann",
            "fighter",
            "/end",
            "who is dyson?",
            "/quit",
        ]
    )

    async def read_line(prompt: str) -> str:
        return next(script)

    out = io.StringIO()
    try:
        await ConsoleChat(app, Console(file=out, width=200, color_system=None), read_line, "local:ann").run()
    finally:
        await app.close()
    text = out.getvalue()
    trivia, story, chat = text.split("Back to John Connor.")
    assert "1 question." in trivia and "1 of 1" in trivia
    assert "Scene 1: Two Terminators arrive" in story
    assert "- Ann (resistance fighter): watched the story unfold." in story
    assert "stood by Sarah" not in story, "an epilogue speaks only of the scenes that were decided"
    assert "John Connor: " in chat and "Dyson" in chat


def test_the_console_logs_to_a_file_and_is_the_local_user(cli_env: dict[str, str], tmp_path: Path) -> None:
    run_cli(cli_env, "console", stdin="3\nWhen is Judgment Day?\n/quit\n")
    result = run_cli_process(cli_env, "console", "--user", "ann", stdin="1\nhi\n/quit\n")
    assert " INFO " not in result.stderr  # nothing below a warning prints over the conversation
    assert "services ready" in (tmp_path / "t2-companion.log").read_text(encoding="utf-8")
    local = json.loads(run_cli(cli_env, "export", "--user", "local"))
    assert [c["persona"] for c in local["conversations"]] == ["t800"]
    assert local["conversations"][0]["messages"][1]["fact_ids"] == ["f-judgment-day-date"]
    ann = json.loads(run_cli(cli_env, "export", "--user", "ann"))
    assert [c["persona"] for c in ann["conversations"]] == ["john"]
    shown = run_cli_process({**cli_env, "LOG_LEVEL": "INFO"}, "console", stdin="/quit\n")
    assert "services ready" in shown.stderr


async def test_export_holds_trivia_scores_and_story_turns_until_forget_me(settings: Settings) -> None:
    app = await build_app(settings)
    script = iter(["", "/trivia choice 1", "A", "/story list", "1", "ann", "fighter", "1", "/end", "/quit"])

    async def read_line(prompt: str) -> str:
        return next(script)

    try:
        await ConsoleChat(app, Console(file=io.StringIO(), color_system=None), read_line, "local:ann").run()
        data = await app.export_user("local:ann")
        [score] = data["trivia"]["scores"]
        assert score["name"] == "ann" and score["attempted"] == 1
        assert [choice["question"] for choice in data["trivia"]["choices"]] == [1]
        assert data["trivia"]["games_started"] == [score["game"]]
        [session] = data["story"]["sessions"]
        assert session["name"] == "ann" and session["role"] == "fighter"
        assert any(turn["kind"] == "choice" and turn["scene"] == 1 for turn in session["turns"]), session["turns"]
        assert data["story"]["hosted"] == []  # the console plays the story with a host of its own
        assert await app.forget_user("local:ann") > 0
        emptied = await app.export_user("local:ann")
        assert emptied["trivia"]["scores"] == [] and emptied["trivia"]["games_started"] == []
        assert emptied["story"] == {"sessions": [], "hosted": []}
    finally:
        await app.close()


def test_the_console_user_may_be_named_before_or_after_the_command(cli_env: dict[str, str]) -> None:
    run_cli(cli_env, "--user", "zoe", stdin="\nwho is dyson?\n/quit\n")
    run_cli(cli_env, "console", "--user", "yan", stdin="\nwho is dyson?\n/quit\n")
    run_cli(cli_env, "--user", "xia", "console", stdin="\nwho is dyson?\n/quit\n")
    for name in ("zoe", "yan", "xia"):
        exported = json.loads(run_cli(cli_env, "export", "--user", name))
        assert exported["conversations"][0]["messages"][0]["text"] == "who is dyson?", name
    assert json.loads(run_cli(cli_env, "export"))["conversations"] == [], "nobody chatted as local"


async def test_a_turn_on_memory_another_process_changed_is_redone_on_the_stored_memory(database_url: str) -> None:
    # Two apps on one database stand for two processes that both (wrongly) serve one conversation.
    first = await build_app(Settings(database_url=database_url))
    second = await build_app(Settings(database_url=database_url))
    try:
        await first.chat.reply("discord:7", "channel:1", "who is dyson", persona="john")
        await second.chat.reply("discord:7", "channel:1", "what is skynet", persona="john")  # reads turn 1
        await first.chat.reply("discord:7", "channel:1", "when is judgment day", persona="john")  # turn 2
        # second still holds turn 1 in memory: its write is stale, so it reads turn 2 and answers as turn 3
        await second.chat.reply("discord:7", "channel:1", "who sent the terminator", persona="john")
        async with second.sessions() as session:
            repo = ConversationRepository(session)
            state = await repo.load("discord:7", "channel:1", "john")
            assert state is not None and state.turn == 4
            said = [message.text for message in await repo.messages(state.conversation_id) if message.role == "user"]
        assert said == ["who is dyson", "what is skynet", "when is judgment day", "who sent the terminator"]
    finally:
        await first.close()
        await second.close()


async def test_a_default_persona_set_through_another_process_is_seen(database_url: str) -> None:
    settings = Settings(database_url=database_url, settings_refresh_s=0)  # 0: read again every time
    first, second = await build_app(settings), await build_app(settings)
    try:
        assert (await second.chat.reply("discord:5", "dm:5", "hi")).persona.id == "john"  # the default, cached
        await first.chat.set_default_persona("discord:5", "t800")
        assert (await second.chat.reply("discord:5", "dm:5", "hi")).persona.id == "t800"
    finally:
        await first.close()
        await second.close()
