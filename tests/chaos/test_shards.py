"""Sharded bot processes on one PostgreSQL database against a sharded test Discord.

The twin has four shards and 200 guilds. Process A runs shards 0-1, process B shards 2-3. People chat in guilds of
every shard, a trivia game runs in a guild of shard 0 (A) and a story session in a guild of shard 3 (B). A is killed
with SIGKILL in the middle of the game and started again: the game goes on from the question it was at with the
points it had, B goes on meanwhile, every message is answered once by the process that runs its guild, and nothing
is announced twice. A third process asking for shards 1-2, which A and B run, exits with code 3 and posts nothing.
"""

# Waiting helpers take an explicit ``timeout`` (seconds) on purpose.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.splitting import split_message
from db.chat.models import Conversation, Message
from db.engine import create_engine
from db.outbox.models import OutboxPost
from db.story.models import StoryEvent
from db.trivia.models import TriviaGame, TriviaScore
from personas.factbase import load_fact_base
from personas.roster import PERSONAS
from personas.understanding.model import load_model
from tests.chaos.harness import ASKED, REPLAY_WINDOW_S, RESUMED, BotProcess, bot_env, post_text, story_buttons
from tests.chaos.launcher import PROCESS_HEADER
from tests.postgres import create_database, drop_database
from tests.twin import DiscordTwin, RecordedRequest
from tests.twin.gateway import guild_of

pytest_plugins = ["tests.twin.fixtures"]

SHARDS = 4
GUILDS = 200
CHAT_GUILDS_PER_SHARD = 8
"""Guilds of each shard where people chat (each with one channel and one member)."""
TRIVIA_SECONDS = 10
"""Seconds a question runs (the least ``/trivia start`` allows): question 2 is left unanswered, so its timer closes it,
once, whether its time runs out while process A is down (A closes it as it comes back) or after."""
TRIVIA_QUESTIONS = 3
LEFTOVER = "Stored just before the crash."
"""A post process A stored in the outbox and did not send before it was killed."""
A_SHARDS = (0, 1)
B_SHARDS = (2, 3)


@dataclass
class World:
    """The twin's guilds and who is in them."""

    chat: list[tuple[int, int, int]] = field(default_factory=list)
    """(guild id, channel id, member id) of each chat guild."""
    trivia_guild: int = 0
    trivia_channel: int = 0
    story_guild: int = 0
    story_channel: int = 0
    players: dict[str, int] = field(default_factory=dict)
    """name -> user id of the trivia players (also members of the story guild)."""


def build_world(twin: DiscordTwin) -> World:
    world = World()
    per_shard: Counter[int] = Counter()
    for number in range(GUILDS):
        guild = twin.add_guild(f"guild-{number}")
        shard = twin.shard_of(guild.id)
        if per_shard[shard] < CHAT_GUILDS_PER_SHARD:
            per_shard[shard] += 1
            channel = twin.add_text_channel(guild.id, "chat")
            member = twin.add_member(guild.id, name=f"user{number}")
            world.chat.append((guild.id, channel.id, member.id))
    trivia = twin.add_guild("trivia night", shard=0)
    story = twin.add_guild("story time", shard=3)
    world.trivia_guild, world.story_guild = trivia.id, story.id
    world.trivia_channel = twin.add_text_channel(trivia.id, "trivia").id
    world.story_channel = twin.add_text_channel(story.id, "story").id
    for name in ("ann", "bob", "cid"):
        user = twin.add_member(trivia.id, name=name)
        twin.add_member(story.id, user.id)
        world.players[name] = user.id
    return world


def label(request: RecordedRequest) -> str | None:
    """The bot process that made a request (``X-Twin-Process``)."""
    return next((value for key, value in request.headers.items() if key.lower() == PROCESS_HEADER.lower()), None)


def posters(twin: DiscordTwin) -> dict[int, str | None]:
    """Message id -> the process whose request created it (bot sends and webhook executions)."""
    made = {}
    for request in twin.requests:
        response = request.response
        if request.method == "POST" and isinstance(response, dict) and "channel_id" in response and "id" in response:
            made[int(response["id"])] = label(request)
    return made


def session_shards(twin: DiscordTwin) -> dict[str, int]:
    """Session id -> the shard it identified as, from every READY the twin sent (also of sessions gone since)."""
    return {f.d["session_id"]: f.d["shard"][0] for f in twin.gateway_frames if f.direction == "out" and f.t == "READY"}


def sessions_labels(twin: DiscordTwin) -> set[str | None]:
    return {s.headers.get(PROCESS_HEADER) for s in twin.gateway.live_sessions}


class Run:
    """The twin, the database and the processes of one test."""

    def __init__(self, twin: DiscordTwin, engine: AsyncEngine, world: World, env: dict[str, str], folder: Path):
        self.twin = twin
        self.engine = engine
        self.world = world
        self.a = self._process("A", "0-1", A_SHARDS, env, folder)
        self.b = self._process("B", "2-3", B_SHARDS, env, folder)
        self.sent: dict[int, tuple[int, int]] = {}
        """chat message id -> (guild id, channel id)."""

    def _process(self, name: str, ids: str, shards: tuple[int, ...], env: dict[str, str], folder: Path) -> BotProcess:
        own = env | {"SHARD_IDS": ids, "T2_TWIN_PROCESS": name}
        return BotProcess(self.twin, own, folder / f"bot-{name}.log", shards=shards)

    async def rows(self, query: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(query)).all())

    async def scalar(self, query: Any) -> Any:
        async with self.engine.connect() as connection:
            return await connection.scalar(query)

    # ------------------------------------------------------------------------------------------------- chat
    async def chat_round(self, text: str) -> None:
        """One message mentioning the bot in every chat guild."""
        mention = f"<@{self.twin.bot_user.id}>"
        for guild_id, channel_id, member_id in self.world.chat:
            message = await self.twin.send_message(channel_id, member_id, f"{mention} {text}")
            self.sent[int(message["id"])] = (guild_id, channel_id)

    def answered(self, guilds: set[int] | None = None) -> bool:
        counts = Counter(channel for guild, channel in self.sent.values() if guilds is None or guild in guilds)
        return all(len(self.twin.messages.get(channel, ())) >= n for channel, n in counts.items())

    # ----------------------------------------------------------------------------------------------- trivia
    async def game(self) -> tuple[str, int, str, list[dict[str, Any]]]:
        [row] = await self.rows(
            select(TriviaGame.status, TriviaGame.question_index, TriviaGame.phase, TriviaGame.questions).where(
                TriviaGame.channel_id == self.world.trivia_channel
            )
        )
        return str(row[0]), int(row[1]), str(row[2]), list(row[3])

    async def wait_for_question(self, index: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until question ``index`` (from 0) is being asked; the game's questions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, at, phase, questions = await self.game()
            if status == "running" and at == index and phase == "ask":
                return questions
            await asyncio.sleep(0.2)
        raise TimeoutError(f"question {index + 1} was not asked; the game is {await self.game()}")

    def asked(self, number: int) -> bool:
        """Whether question ``number`` (from 1) has been posted."""
        return any(
            (match := ASKED.search(post_text(m))) and int(match.group(1)) == number
            for m in self.twin.messages.get(self.world.trivia_channel, ())
        )

    async def answer(self, index: int, name: str) -> None:
        questions = await self.wait_for_question(index)
        await self.twin.send_message(self.world.trivia_channel, self.world.players[name], str(questions[index]["a"][0]))

    async def scores(self) -> dict[str, int]:
        rows = await self.rows(select(TriviaScore.user, TriviaScore.points))
        names = {f"discord:{user}": name for name, user in self.world.players.items()}
        return {names.get(user, user): int(points) for user, points in rows}

    # ------------------------------------------------------------------------------------------------ story
    async def decisions(self) -> int:
        query = select(func.count()).select_from(StoryEvent).where(StoryEvent.kind == "decision")
        return int(await self.scalar(query) or 0)

    async def decide(self, scene: int, timeout: float = 30.0) -> None:
        """Take the first option of ``scene``'s prompt and wait until the decision is stored."""
        deadline = time.monotonic() + timeout
        ann = self.world.players["ann"]
        clicked = False
        while await self.decisions() < scene:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the story did not decide scene {scene}")
            prompt = self._prompt(scene)
            if prompt is not None and not clicked:
                message_id, buttons = prompt
                await self.twin.click_button(self.world.story_channel, ann, message_id, next(iter(buttons.values())))
                clicked = True
            await asyncio.sleep(0.2)

    def _prompt(self, scene: int) -> tuple[int, dict[str, str]] | None:
        for message in reversed(self.twin.history(self.world.story_channel)):
            buttons = {arg: custom for arg, custom in story_buttons(message).items() if f":{scene}:choose:" in custom}
            if buttons:
                return int(message["id"]), buttons
        return None

    async def start_games(self) -> None:
        ann = self.world.players["ann"]
        started = await self.twin.send_slash_command(
            self.world.trivia_channel,
            ann,
            "trivia",
            {"questions": TRIVIA_QUESTIONS, "seconds": TRIVIA_SECONDS},
            subcommand="start",
        )
        await started.wait_for_answers(1, timeout=15)
        story = await self.twin.send_slash_command(
            self.world.story_channel, ann, "story", {"turn_order": "list"}, subcommand="start"
        )
        await story.wait_for_answers(1, timeout=15)
        lobby = story.original_message
        assert lobby is not None
        buttons = story_buttons(lobby)
        joined = await self.twin.click_button(self.world.story_channel, ann, int(lobby["id"]), buttons["john"])
        await joined.wait_for_answers(1, timeout=15)
        go = await self.twin.click_button(self.world.story_channel, ann, int(lobby["id"]), buttons["start"])
        await go.wait_for_answers(1, timeout=15)


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url)
    try:
        yield url
    finally:
        drop_database(postgres_url, url)


@pytest.mark.allow_429  # two processes share the bot's global limit, as on Discord; discord.py waits and retries
async def test_two_processes_share_four_shards_and_a_killed_one_resumes_its_games(
    pg_database: str, tmp_path: Path, chaos_figures: dict[str, Any]
) -> None:
    # The understanding model is built (once, in the shared cache) before the bots start, not by both at once.
    await asyncio.to_thread(load_model, load_fact_base(), PERSONAS)
    began = time.monotonic()
    # Two identify buckets: shard 0 (A) and shard 2 (B) share one, 1 (A) and 3 (B) the other, so the processes, which
    # start together, must take turns.
    twin = DiscordTwin(shards=SHARDS, max_concurrency=2)
    twin.replay_on_identify_s = REPLAY_WINDOW_S
    await twin.start()
    world = build_world(twin)
    engine = create_engine(pg_database)
    env = bot_env(pg_database, twin.token, tmp_path, SHARD_COUNT=str(SHARDS), SHARD_LOCK_WAIT_S="1")
    run = Run(twin, engine, world, env, tmp_path)
    a_guilds = {g for g, _, _ in world.chat if twin.shard_of(g) in A_SHARDS}
    b_guilds = {g for g, _, _ in world.chat if twin.shard_of(g) in B_SHARDS}
    figures: dict[str, Any] = {"guilds": len(twin.world.guilds), "chat_guilds": len(world.chat)}
    c: BotProcess | None = None
    c_exit: asyncio.Future[int] | None = None
    try:
        await asyncio.gather(run.a.start(), run.b.start())  # together: both migrate the new database
        figures["started_s"] = round(time.monotonic() - began, 1)
        assert sessions_labels(twin) == {"A", "B"}
        for session in twin.gateway.live_sessions:
            assert session.shard is not None
            assert session.headers.get(PROCESS_HEADER) == ("A" if session.shard[0] in A_SHARDS else "B")

        await run.start_games()
        await asyncio.gather(run.chat_round("who is dyson?"), run.answer(0, "bob"), run.decide(1))
        questions = await run.wait_for_question(1)  # bob's answer closed question 1; question 2 is asked
        await twin.wait_until(lambda: run.asked(2), 15, what="question 2 to be posted")
        before_kill = await run.scores()
        assert before_kill == {"bob": before_kill["bob"]} and before_kill["bob"] > 0, before_kill

        await run.a.kill()
        killed_at = time.monotonic()
        # While A is down: chat everywhere, the story (on B) goes on, and a post A had stored waits in the outbox.
        [(_, a_channel, _)] = [c for c in world.chat if c[0] in a_guilds][:1]
        async with engine.begin() as connection:
            await connection.execute(
                insert(OutboxPost).values(
                    key="left-by-a",
                    kind="chat",
                    channel_id=a_channel,
                    persona="john",
                    text=LEFTOVER,
                    payload=None,
                    created_at_ms=int(time.time() * 1000) - 3000,
                    parts_sent=0,
                )
            )
        await asyncio.gather(run.chat_round("what is skynet?"), run.decide(2))
        await twin.wait_until(lambda: run.answered(b_guilds), 60, what="B to answer its guilds")
        await asyncio.sleep(3)  # B's outbox loop runs every second: long enough for it to take A's post (it must not)
        assert not any(post_text(m) == LEFTOVER for m in twin.messages[a_channel])
        a_channels = [channel for guild, channel, _ in world.chat if guild in a_guilds]
        assert [len(twin.messages[c]) for c in a_channels] == [1] * len(a_channels), "nobody answers for A"
        _, index, _, _ = await run.game()
        assert index == 1, "nobody runs the game while its process is down"

        await run.a.start()
        figures["down_s"] = round(time.monotonic() - killed_at, 1)
        # A third process asks for shards 1-2, which A and B run, while the game goes on.
        c = BotProcess(twin, env | {"SHARD_IDS": "1-2", "T2_TWIN_PROCESS": "C"}, tmp_path / "bot-C.log")
        c_exit = asyncio.ensure_future(c.run_until_exit(timeout=90))
        status, index, phase, after = await run.game()
        assert (status, index, after) == ("running", 1, questions), "the game is where it was"
        assert phase in ("ask", "pause"), phase  # asked, or just closed by its timer as A came back
        assert await run.scores() == before_kill, "the points survive the crash"
        await asyncio.gather(run.answer(2, "cid"), run.decide(3))  # question 2 times out, cid gets question 3
        deadline = time.monotonic() + 30
        while (await run.game())[0] == "running":
            assert time.monotonic() < deadline, "the game did not end after its last question"
            await asyncio.sleep(0.3)
        await twin.wait_until(run.answered, 60, what="every chat message to be answered")
        await twin.wait_until(
            lambda: any(post_text(m) == LEFTOVER for m in twin.messages[a_channel]),
            30,
            what="A to post what it left in the outbox",
        )
        await asyncio.sleep(3)  # time for a late duplicate to show
        figures["game_s"] = round(time.monotonic() - began, 1)

        # ---------------------------------------------------------------------------- a process with taken shards
        assert await c_exit == 3
        c_log = (tmp_path / "bot-C.log").read_text()
        assert "cannot run shards 1-2 of 4" in c_log and "is run by another process" in c_log, c_log[-2000:]
        c_requests = [r for r in twin.requests if label(r) == "C"]
        assert any(r.path == "/gateway/bot" for r in c_requests), "C asks Discord for the shard count"
        assert all(r.method == "GET" for r in c_requests), [(r.method, r.path) for r in c_requests]
        assert [h for h in twin.gateway.upgrades if h.get(PROCESS_HEADER) == "C"] == [], "C opens no gateway socket"
        assert sessions_labels(twin) == {"A", "B"}

        # ---------------------------------------------------------------------------------------------- checks
        assert run.b.running and run.b.starts == 1 and run.b._readies() == len(B_SHARDS), "B ran on, undisturbed"
        check_routing(twin)
        await check_chat(run, figures)
        await check_games(run, before_kill, figures)
        left = [m for m in twin.messages[a_channel] if post_text(m) == LEFTOVER]
        assert [posters(twin).get(int(m["id"])) for m in left] == ["A"], "A posts what it left, once"
        for name in ("A", "B"):
            errors = [line for line in (tmp_path / f"bot-{name}.log").read_text().splitlines() if " ERROR " in line]
            assert errors == [], f"process {name} logged errors"
        assert twin.gateway.identify_violations == [], "each bucket identified once per 5 s, across the processes"
        assert await run.scalar(select(func.count()).select_from(OutboxPost)) == 0
    finally:
        if c_exit is not None and not c_exit.done():
            c_exit.cancel()
        await asyncio.gather(run.a.stop(), run.b.stop(), *([c.stop()] if c is not None else []))
        await engine.dispose()
        await twin.stop()
        figures["seconds"] = round(time.monotonic() - began, 1)
        figures["answered_429"] = len(twin.rate_limited)
        chaos_figures["shards"] = figures


def check_routing(twin: DiscordTwin) -> None:
    """Every dispatch of a guild (GUILD_CREATE, MESSAGE_CREATE, INTERACTION_CREATE ...) went to a session of the
    guild's shard, and every process got the GUILD_CREATE of each of its guilds."""
    shard_of_session = session_shards(twin)
    routed: Counter[str] = Counter()
    for frame in twin.gateway_frames:
        if frame.direction != "out" or frame.op != 0 or frame.t in ("READY", "RESUMED"):
            continue
        guild_id = guild_of(frame.t or "", frame.d)
        assert shard_of_session[str(frame.session_id)] == twin.shard_of(guild_id), (frame.t, guild_id)
        routed[str(frame.t)] += 1
    assert routed["GUILD_CREATE"] >= len(twin.world.guilds) and routed["INTERACTION_CREATE"] > 0, routed
    for session_id, shard in shard_of_session.items():
        sent = {int(f.d["id"]) for f in twin.gateway_frames if f.session_id == session_id and f.t == "GUILD_CREATE"}
        assert sent == {g for g in twin.world.guilds if twin.shard_of(g) == shard}


async def check_chat(run: Run, figures: dict[str, Any]) -> None:
    """Every chat message went to the session of its guild's shard and was answered once, by that shard's process."""
    twin = run.twin
    shard_of_session = session_shards(twin)
    made_by = posters(twin)
    for message_id, (guild_id, _) in run.sent.items():
        deliveries = [
            shard_of_session[str(f.session_id)]
            for f in twin.gateway_frames
            if f.direction == "out" and f.t == "MESSAGE_CREATE" and int(f.d["id"]) == message_id
        ]
        assert deliveries and set(deliveries) == {twin.shard_of(guild_id)}, (message_id, deliveries)
    replies = 0
    for guild_id, channel_id, _ in run.world.chat:
        stored = await run.rows(
            select(Message.text)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.scope == f"channel:{channel_id}", Message.role == "persona")
        )
        expected = Counter(part for (text,) in stored for part in split_message(text))
        posts = [m for m in twin.messages.get(channel_id, ()) if post_text(m) != LEFTOVER]
        assert Counter(post_text(m) for m in posts) == expected, f"channel {channel_id}: posted once, as stored"
        asked = sum(1 for _, channel in run.sent.values() if channel == channel_id)
        assert len(stored) == asked, f"channel {channel_id}: every message answered"
        owner = "A" if twin.shard_of(guild_id) in A_SHARDS else "B"
        assert {made_by.get(int(m["id"])) for m in posts} == {owner}, f"channel {channel_id} answered by {owner}"
        replies += len(posts)
    figures["chat_messages"] = len(run.sent)
    figures["chat_posts"] = replies


async def check_games(run: Run, before_kill: dict[str, int], figures: dict[str, Any]) -> None:
    """The game ended with every point, its posts came from A once each; the story's from B once each."""
    twin = run.twin
    made_by = posters(twin)
    status, _, _, _ = await run.game()
    scores = await run.scores()
    assert status == "finished"
    assert set(scores) == {"bob", "cid"} and scores["bob"] == before_kill["bob"] and scores["cid"] > 0, scores
    trivia_posts = twin.messages[run.world.trivia_channel]
    said = Counter(post_text(m) for m in trivia_posts)
    assert [text for text, count in said.items() if count > 1] == [], "no trivia announcement is posted twice"
    asked = Counter(int(match.group(1)) for text in said if not RESUMED.search(text) and (match := ASKED.search(text)))
    assert asked == Counter({1: 1, 2: 1, 3: 1}), f"each question asked once: {dict(asked)}"
    assert {made_by.get(int(m["id"])) for m in trivia_posts} == {"A"}
    story_posts = twin.messages[run.world.story_channel]
    signatures = Counter(
        "\n".join([str(m.get("content") or "")] + [str(e.get("description") or "") for e in m.get("embeds") or []])
        for m in story_posts
    )
    assert [text for text, count in signatures.items() if count > 1] == [], "no story post is posted twice"
    assert {made_by.get(int(m["id"])) for m in story_posts} <= {"B"}
    assert await run.decisions() == 3
    figures["trivia_posts"] = len(trivia_posts)
    figures["story_posts"] = len(story_posts)
