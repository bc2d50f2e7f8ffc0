"""Crash tests: the bot runs as its own process against the twin and is killed with SIGKILL at seeded points.

A scripted workload (chat in many channels, two trivia games, one story session) is played once without kills and
once with ``T2_CHAOS_KILLS`` kills (16 by default; ``T2_CHAOS_LONG=1`` plays a longer script with 60), on SQLite and
on PostgreSQL. Outcomes that depend on timing are compared as invariants: every chat message stored and answered
exactly once, the same trivia points, the same story choices and the same story posts, each once.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.chat.models import Conversation, Memory, Message
from db.engine import create_engine
from personas.factbase import load_fact_base
from personas.roster import PERSONAS
from tests.chaos.harness import (
    ASKED,
    REPLAY_WINDOW_S,
    RESUMED,
    BotProcess,
    Figures,
    Plan,
    Workload,
    bot_env,
    make_plan,
    post_text,
    story_duplicates,
    trivia_duplicates,
)
from tests.postgres import PostgresServer, create_database, drop_database, find_binaries
from tests.twin import DiscordTwin

pytest_plugins = ["tests.twin.fixtures"]

FACTS = load_fact_base()

# A restarted process does not know how many posts a channel had in the last seconds, so it may run into Discord's
# per-channel limit once; discord.py waits and retries, which is what Discord expects.
pytestmark = pytest.mark.allow_429

LONG = os.environ.get("T2_CHAOS_LONG", "") not in ("", "0")
KILLS = int(os.environ.get("T2_CHAOS_KILLS", "60" if LONG else "16"))
SEED = int(os.environ.get("T2_CHAOS_SEED", "2029"))
MESSAGES = 240 if LONG else 80
CHAT_CHANNELS = 8
CHAT_USERS = 12


CALM_INTERVAL_S = 0.3
"""Seconds between chat messages in the run without kills (the pace does not change what must be stored)."""
KILLED_INTERVAL_S = 1.0
"""Seconds between chat messages in the run with kills: the chat goes on through most of the kills."""


def plan() -> Plan:
    """The seeded script of every run."""
    return make_plan(SEED, messages=MESSAGES, kills=KILLS, channels=CHAT_CHANNELS, users=CHAT_USERS)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The backend's name and a fresh database on it."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite+aiosqlite:///{tmp_path}/killed.db"
        return
    server = request.getfixturevalue("postgres_url")
    url = create_database(server)
    try:
        yield "postgresql", url
    finally:
        drop_database(server, url)


async def calm_run(chaos_runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Figures:
    """The plan played once without kills (on SQLite; the outcomes compared do not depend on the database)."""
    if "calm" not in chaos_runs:
        folder = tmp_path_factory.mktemp("calm")
        calm = await play(f"sqlite+aiosqlite:///{folder}/calm.db", folder, kill=False, name="calm")
        assert calm.lost_turns == calm.unanswered == calm.duplicate_posts == calm.other_posts == 0, calm.summary()
        assert len(calm.story_decisions) == 8 and calm.outbox_left == 0, calm.summary()
        chaos_runs["calm"] = calm
    result: Figures = chaos_runs["calm"]
    return result


async def play(url: str, folder: Path, *, kill: bool, name: str) -> Figures:
    """Play the plan once on ``url`` against a new twin; the figures of the run."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    twin = DiscordTwin()
    twin.replay_on_identify_s = REPLAY_WINDOW_S
    await twin.start()
    engine = create_engine(url)
    bot = BotProcess(twin, bot_env(url, twin.token, folder), folder / "bot.log")
    workload = Workload(twin, engine, bot, plan(), chat_channels=CHAT_CHANNELS)
    began = time.monotonic()
    try:
        await bot.start()
        points = await workload.run(kill=kill, chat_interval_s=KILLED_INTERVAL_S if kill else CALM_INTERVAL_S)
        figures = await workload.figures(name, killed=kill)
        figures.kill_points_s = points
        figures.seconds = time.monotonic() - began
    finally:
        await bot.stop()
        await engine.dispose()
        await twin.stop()
    return figures


async def test_kill_9_loses_no_turn_point_or_choice_and_posts_nothing_twice(
    backend_url: tuple[str, str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    chaos_figures: dict[str, Any],
    chaos_runs: dict[str, Any],
) -> None:
    backend, url = backend_url
    calm = await calm_run(chaos_runs, tmp_path_factory)
    killed = await play(url, tmp_path / "killed", kill=True, name=backend)
    missing, twice = story_duplicates(calm, killed)
    summary = killed.summary() | {
        "seed": SEED,
        "story_posts_missing": missing,
        "story_posts_twice": twice,
        "trivia_posts_twice": trivia_duplicates(killed),
        "trivia_posts_calm": sum(sum(c.values()) for c in calm.trivia_posts.values()),
        "trivia_posts_killed": sum(sum(c.values()) for c in killed.trivia_posts.values()),
        "calm_seconds": round(calm.seconds, 1),
    }
    chaos_figures[f"kill-9 {backend}"] = summary
    chaos_runs[backend] = (calm, killed)
    assert killed.kills == KILLS
    assert killed.turns == calm.turns == MESSAGES
    assert killed.lost_turns == 0, summary
    assert killed.unanswered == 0, summary
    assert killed.duplicate_posts == 0, summary
    assert killed.other_posts == 0, summary
    assert killed.outbox_left == 0, summary
    assert killed.trivia_points == calm.trivia_points, "every right trivia answer is scored exactly once"
    assert killed.story_decisions == calm.story_decisions, "the story makes the same choices in the same scenes"
    assert (missing, twice) == (0, 0), summary


def test_trivia_announcements_survive_a_kill_9(chaos_runs: dict[str, Any]) -> None:
    runs = {backend: run for backend, run in chaos_runs.items() if backend != "calm"}
    if not runs:
        pytest.skip("needs the kill -9 runs of test_kill_9_loses_no_turn_point_or_choice_and_posts_nothing_twice")
    for backend, (calm, killed) in runs.items():
        assert trivia_duplicates(killed) == 0, f"{backend}: a trivia announcement was posted twice"
        # The questions are drawn at random and each run has channels of its own, and how many hints come depends
        # on timing, so the runs are compared by what must be said: every question of every game asked, once as a
        # question (a restart asks the running one again, in other words, with the time it has left).
        for channel, posts in killed.trivia_posts.items():
            asked = Counter(
                int(match.group(1))
                for text, count in posts.items()
                if not RESUMED.search(text) and (match := ASKED.search(text))
                for _ in range(count)
            )
            totals = {int(match.group(2)) for text in posts if (match := ASKED.search(text))}
            assert len(totals) == 1, f"{backend}: channel {channel} has no game, or several"
            assert asked == Counter(range(1, totals.pop() + 1)), f"{backend}: questions asked {dict(asked)}"
        calm_games = sum(1 for posts in calm.trivia_posts.values() if posts)
        assert calm_games == sum(1 for posts in killed.trivia_posts.values() if posts), backend


# ----------------------------------------------------------------------------------------- database outages
_RETRY = re.compile(r" \(ref [0-9A-F]{8}\)$")


def is_retry_message(text: str) -> bool:
    """A persona telling the user to try again (or that something broke), with the reference to quote."""
    return bool(_RETRY.search(text))


async def chat_answers(engine: Any, twin: DiscordTwin, channels: list[int]) -> dict[str, int]:
    """Per chat channel: stored replies, and posts that are replies, apologies or anything else."""
    counts: Counter[str] = Counter()
    for channel in channels:
        async with engine.connect() as connection:
            replies = Counter(
                (
                    await connection.scalars(
                        select(Message.text)
                        .join(Conversation, Conversation.id == Message.conversation_id)
                        .where(Conversation.scope == f"channel:{channel}", Message.role == "persona")
                    )
                ).all()
            )
        posted = Counter(post_text(message) for message in twin.messages.get(channel, ()))
        retries = Counter({text: number for text, number in posted.items() if is_retry_message(text)})
        counts["stored"] += sum(replies.values())
        counts["replies"] += sum((posted & replies).values())
        counts["twice"] += sum((posted - replies - retries).values())
        counts["apologies"] += sum(retries.values())
        counts["unposted"] += sum((replies - posted).values())
    return dict(counts)


async def outage_run(
    url: str, folder: Path, outage: Any, *, messages: int = 40, interval_s: float = 0.25
) -> tuple[dict[str, int], int, list[bool]]:
    """Chat in four channels while ``outage()`` runs alongside; per message sent after the outage whether its
    reply was posted. Returns the counts, how many messages were sent, and that list."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    twin = DiscordTwin()
    await twin.start()
    guild = twin.add_guild("Outage")
    channels = [twin.add_text_channel(guild.id, f"chat-{n}").id for n in range(4)]
    users = [twin.add_member(guild.id, name=f"user{n}").id for n in range(8)]
    bot = BotProcess(twin, bot_env(url, twin.token, folder), folder / "bot.log")
    engine = create_engine(url)
    mention = f"<@{twin.bot_user.id}>"
    try:
        await bot.start()
        outage_task = asyncio.ensure_future(outage())
        for number in range(messages):
            await twin.send_message(channels[number % 4], users[number % 8], f"{mention} who is dyson?")
            await asyncio.sleep(interval_s)
        await outage_task
        after: list[bool] = []
        for number in range(8):  # once the database is back, the next messages are answered
            channel = channels[number % 4]
            before = len(twin.messages.get(channel, ()))
            await twin.send_message(channel, users[number % 8], f"{mention} what is skynet?")
            await twin.wait_until(lambda c=channel, b=before: len(twin.messages.get(c, ())) > b or None, 30)
            after.append(not is_retry_message(post_text(twin.messages[channel][-1])))
        total = messages + 8
        await twin.wait_until(lambda: sum(len(twin.messages.get(c, ())) for c in channels) >= total or None, 60)
        await asyncio.sleep(3)  # time for a late duplicate to show
        counts = await chat_answers(engine, twin, channels)
    finally:
        await bot.stop()
        await engine.dispose()
        await twin.stop()
    return counts, messages + 8, after


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, so restarting it disturbs no other test."""
    binaries = find_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries not found; CI is set, so the PostgreSQL tests must run there")
        pytest.skip("PostgreSQL server binaries not found")
    server = PostgresServer(binaries)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_postgresql_restarting_under_load_loses_nothing(
    own_postgres: PostgresServer, tmp_path: Path, chaos_figures: dict[str, Any]
) -> None:
    url = create_database(own_postgres.url)

    async def outage() -> None:
        await asyncio.sleep(3)
        await asyncio.to_thread(own_postgres.restart, 2.0)

    counts, sent, after = await outage_run(url, tmp_path, outage)
    chaos_figures["postgresql restart"] = {"turns": sent, **counts, "answered_after_restart": sum(after)}
    assert counts["replies"] + counts["apologies"] == sent, counts  # every message answered, once
    assert counts["replies"] == counts["stored"], counts  # every stored reply posted; none posted for a failed turn
    assert counts["twice"] == counts["unposted"] == 0, counts
    assert all(after), "the bot answers again once PostgreSQL is back"


HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
connection.close()
print("released", flush=True)
"""
"""Another program writing to the SQLite file: takes its write lock, says "locked", holds the lock until a line
comes on its standard input, then releases it and says "released"."""
LOCKED_DB_TIMEOUT_S = 0.5
"""The bot's database timeout (``DB_TIMEOUT_S``, SQLite's busy timeout) in the lock test; the lock is held until
the user has been told to try again, so for longer than this whatever the machine's speed."""


class LockHolder:
    """A second process holding SQLite's write lock on a file until told to let go."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> LockHolder:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_LOCK,
            str(self.path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await self._expect(b"locked")
        return self

    async def release(self) -> None:
        """Let go of the lock; returns once the other process has rolled back and ended."""
        process = self.process
        assert process is not None and process.stdin is not None
        if process.returncode is not None:
            return
        process.stdin.write(b"release\n")
        await process.stdin.drain()
        await self._expect(b"released")
        assert await asyncio.wait_for(process.wait(), 30) == 0

    async def __aexit__(self, *exc: object) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def _expect(self, word: bytes) -> None:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line.strip() == word, f"the lock holder said {line!r}, not {word!r}"


async def test_sqlite_write_lock_held_past_busy_timeout(tmp_path: Path, chaos_figures: dict[str, Any]) -> None:
    """A turn that meets the write lock of another program for longer than the busy timeout is told to try again
    in character, with a reference that is in the log; once the lock is gone the bot answers, and the conversation
    goes on from what was stored before the failure (the failed turn left nothing, in the database or in memory)."""
    path = tmp_path / "locked.db"
    url = f"sqlite+aiosqlite:///{path}"
    twin = DiscordTwin()
    await twin.start()
    guild = twin.add_guild("Outage")
    channel = twin.add_text_channel(guild.id, "chat").id
    user = twin.add_member(guild.id, name="user").id
    log_path = tmp_path / "bot.log"
    bot = BotProcess(twin, bot_env(url, twin.token, tmp_path, DB_TIMEOUT_S=str(LOCKED_DB_TIMEOUT_S)), log_path)
    engine = create_engine(url)
    mention = f"<@{twin.bot_user.id}>"

    async def say(text: str, posts_before: int) -> str:
        await twin.send_message(channel, user, f"{mention} {text}")
        posts = await twin.wait_for_messages(channel, posts_before + 1, timeout=30)
        assert len(posts) == posts_before + 1, [post_text(post) for post in posts]
        return post_text(posts[-1])

    async def stored() -> tuple[list[tuple[str, str]], list[int]]:
        async with engine.connect() as connection:
            messages = (await connection.execute(select(Message.role, Message.text).order_by(Message.id))).all()
            turns = (await connection.scalars(select(Memory.turn).order_by(Memory.conversation_id))).all()
        return [(role, text) for role, text in messages], list(turns)

    async def about(reply: str) -> set[str]:
        """The entities of the facts a stored reply states."""
        async with engine.connect() as connection:
            found = await connection.scalar(select(Message.fact_ids).where(Message.text == reply))
        return {entity for fact_id in found or () for entity in FACTS.fact(fact_id).entities}

    try:
        await bot.start()
        first = await say("who is dyson?", 0)
        assert not is_retry_message(first) and "dyson" in await about(first), first
        async with LockHolder(path) as holder:
            began = time.monotonic()
            told = await say("who is the T-1000?", 1)  # meets the lock: waits the busy timeout, then fails
            told_after_s = time.monotonic() - began
            assert is_retry_message(told), told
            line, ref = told.rsplit(" (ref ", 1)
            ref = ref.rstrip(")")
            assert line in PERSONAS["john"].voice.retry, told
            assert ref in await asyncio.to_thread(log_path.read_text), "the reference the user got is in the log"
            assert await stored() == ([("user", "who is dyson?"), ("persona", first)], [1]), "nothing half stored"
            await holder.release()
        after = await say("what happened to him?", 2)  # "him" is Dyson: the failed turn changed no memory
        assert not is_retry_message(after) and "dyson" in await about(after), after
        messages, turns = await stored()
        assert messages == [
            ("user", "who is dyson?"),
            ("persona", first),
            ("user", "what happened to him?"),
            ("persona", after),
        ]
        assert turns == [2]
    finally:
        await bot.stop()
        await engine.dispose()
        await twin.stop()
    chaos_figures["sqlite write lock"] = {
        "busy_timeout_s": LOCKED_DB_TIMEOUT_S,
        "retry_message_after_s": round(told_after_s, 2),
    }
    assert told_after_s >= LOCKED_DB_TIMEOUT_S, "the turn waited for the lock before it gave up"
