"""The crash harness: the bot in its own process against a twin in this one, a scripted workload, and the figures.

``BotProcess`` starts ``python -m tests.chaos.launcher`` (the bot's own entry point, pointed at the twin), kills it
with SIGKILL and starts it again; the twin keeps running, and with ``replay_on_identify_s`` the new process gets the
events the dead one may not have handled. ``Workload`` plays a seeded script: chat in many channels, two trivia
games and one story session, then ``figures`` compares what the database stored with what the twin saw posted.
"""

# Waiting helpers take an explicit ``timeout`` (seconds) on purpose: it is their API.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.splitting import split_message
from bot.trivia.hosting import HOSTS
from db.chat.models import Conversation, Message
from db.outbox.models import OutboxPost
from db.story.models import StoryEvent, StorySession
from db.trivia.models import TriviaGame, TriviaScore
from tests.twin import DiscordTwin, TwinTimeout

ROOT = Path(__file__).resolve().parents[2]

QUESTIONS = (
    "who is dyson?",
    "what is skynet?",
    "when is judgment day?",
    "hi",
    "what is the T-1000 made of?",
    "where did you plan to take John?",
    "what happened at cyberdyne?",
    "who sent you?",
    "thanks",
    "what happened to the arm?",
)
REPLAY_WINDOW_S = 5.0
"""A new process gets the events the twin wrote to the dead one in its last seconds (see ``gateway.py``)."""
TRIVIA_QUESTIONS = 3
STORY_SCENES = 8

RESUMED = re.compile(
    "|".join(
        re.escape(line)
        .replace(r"\{", "{")
        .replace(r"\}", "}")
        .replace("{n}", r"\d+")
        .replace("{total}", r"\d+")
        .replace("{left}", r"\d+")
        .replace("{question}", ".+")
        for host in HOSTS.values()
        for line in host.resumed
    )
)
"""A question asked again after a restart, in any host's words."""
ASKED = re.compile(r"[Qq]uestion (\d+) of (\d+)")


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the workload does, drawn from one seed: the same seed plays the same script."""

    seed: int
    chat: list[tuple[int, int, str]]
    """(channel number, user number, text) of each chat message, in order."""
    story_picks: list[int]
    """Per scene, which of the offered options the player takes (modulo how many there are)."""
    kill_delays: list[float]
    """Seconds after each start at which the bot is killed."""


def make_plan(seed: int, *, messages: int, kills: int, channels: int, users: int) -> Plan:
    """The seeded script."""
    rng = random.Random(seed)
    chat = [(n % channels, rng.randrange(users), rng.choice(QUESTIONS)) for n in range(messages)]
    picks = [rng.randrange(4) for _ in range(STORY_SCENES)]
    delays = [round(rng.uniform(0.2, 1.5), 2) for _ in range(kills)]
    return Plan(seed, chat, picks, delays)


class BotProcess:
    """The bot as a separate process talking to ``twin`` over loopback; with ``shards``, a process that runs those
    shards (its environment names them in ``SHARD_IDS``) next to others."""

    def __init__(self, twin: DiscordTwin, env: dict[str, str], log_path: Path, *, shards: tuple[int, ...] = ()) -> None:
        self.twin = twin
        self.env = env
        self.log_path = log_path
        self.shards = shards
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.start_seconds: list[float] = []

    def _mine(self, shard: Any) -> bool:
        """Whether a READY's ``shard`` (or a session's) is one of this process's."""
        return not self.shards or (shard is not None and shard[0] in self.shards)

    def _readies(self) -> int:
        return sum(
            1
            for frame in self.twin.gateway.frames
            if frame.direction == "out" and frame.t == "READY" and self._mine(frame.d.get("shard"))
        )

    def _connected(self) -> bool:
        return any(s.conn is not None and self._mine(s.shard) for s in self.twin.gateway.live_sessions)

    async def _spawn(self) -> asyncio.subprocess.Process:
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.chaos.launcher",
                str(self.twin.port),
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self.process

    async def start(self, timeout: float = 90.0) -> None:
        """Start the bot and return once the twin has sent READY (one per shard it runs) and its guilds."""
        began = time.monotonic()
        seen = self._readies()
        process = await self._spawn()

        def ready() -> bool:
            if process.returncode is not None:
                raise RuntimeError(f"the bot exited with {process.returncode}; see {self.log_path}")
            return self._readies() >= seen + max(1, len(self.shards))

        await self.twin.wait_until(ready, timeout, what="the bot's READY")
        await self.twin.gateway.flush()
        await asyncio.sleep(0.2)  # on_ready: discord.py's short wait after the guilds
        self.starts += 1
        self.start_seconds.append(time.monotonic() - began)

    async def kill(self) -> None:
        """SIGKILL the bot and wait until the twin has seen its socket go."""
        process = self.process
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        await process.wait()
        self.kills += 1
        await self.twin.wait_until(lambda: not self._connected(), 10.0, what="the dead bot's sockets closed")

    async def run_until_exit(self, timeout: float = 60.0) -> int:
        """Start the bot and wait for it to exit on its own; its exit code."""
        process = await self._spawn()
        self.starts += 1
        try:
            return await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise

    async def stop(self) -> None:
        """Stop the bot the normal way (SIGTERM) and wait for it."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


def bot_env(database_url: str, token: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of the bot process: the real settings, fast outbox polling, no per-user limit."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "DATABASE_"))}
    env.update(
        {
            "DISCORD_TOKEN": token,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "INFO",
            "OUTBOX_POLL_S": "1",
            "CHAT_TURNS_PER_USER": "100000",
            "PYTHONUNBUFFERED": "1",
            "T2_CACHE_DIR": os.environ.get("T2_CACHE_DIR", str(data_dir / "cache")),
        }
    )
    env.update(extra)
    return env


def post_text(message: dict[str, Any]) -> str:
    """What a bot post says: its content, or its first embed's description (the fallback without webhooks)."""
    if message.get("content"):
        return str(message["content"])
    embeds = message.get("embeds") or []
    return str(embeds[0].get("description") or "") if embeds else ""


def _signature(message: dict[str, Any]) -> str:
    """A story post as text: content, then each embed's title and description."""
    parts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
    return "\n".join(parts)


@dataclass
class Figures:
    """What a run stored and posted, and what of it was lost or posted twice."""

    database: str
    killed: bool
    kill_points_s: list[float] = field(default_factory=list)
    kills: int = 0
    turns: int = 0
    turns_stored: int = 0
    lost_turns: int = 0
    unanswered: int = 0
    duplicate_posts: int = 0
    other_posts: int = 0
    trivia_points: dict[str, int] = field(default_factory=dict)
    trivia_questions_scored: int = 0
    story_decisions: list[tuple[int, str]] = field(default_factory=list)
    story_posts: Counter[str] = field(default_factory=Counter)
    trivia_posts: dict[int, Counter[str]] = field(default_factory=dict)
    outbox_left: int = 0
    seconds: float = 0.0
    finished_s: dict[str, float] = field(default_factory=dict)
    start_s_median: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as JSON-ready values."""
        return {
            "database": self.database,
            "killed": self.killed,
            "kills": self.kills,
            "kill_points_s": self.kill_points_s,
            "turns": self.turns,
            "turns_stored": self.turns_stored,
            "lost_turns": self.lost_turns,
            "unanswered": self.unanswered,
            "duplicate_posts": self.duplicate_posts,
            "other_posts": self.other_posts,
            "trivia_points": self.trivia_points,
            "story_decisions": len(self.story_decisions),
            "story_posts": sum(self.story_posts.values()),
            "outbox_left": self.outbox_left,
            "seconds": round(self.seconds, 1),
            "finished_s": self.finished_s,
            "bot_start_s_median": round(self.start_s_median, 2),
        }


class Workload:
    """The scripted workload on one twin and one database."""

    def __init__(self, twin: DiscordTwin, engine: AsyncEngine, bot: BotProcess, plan: Plan, *, chat_channels: int):
        self.twin = twin
        self.engine = engine
        self.bot = bot
        self.plan = plan
        guild = twin.add_guild("Resistance")
        self.guild = guild
        self.chat_channels = [twin.add_text_channel(guild.id, f"chat-{n}").id for n in range(chat_channels)]
        self.trivia_channels = [twin.add_text_channel(guild.id, f"trivia-{n}").id for n in range(2)]
        self.story_channel = twin.add_text_channel(guild.id, "story").id
        users = max(user for _, user, _ in plan.chat) + 1
        self.users = [twin.add_member(guild.id, name=f"user{n}").id for n in range(users)]
        self.players = [twin.add_member(guild.id, name=name).id for name in ("ann", "bob", "cid", "dan")]
        self.sent: list[tuple[int, int]] = []
        """(channel id, message id) of every chat message sent."""
        self.names = {
            f"discord:{user}": name for user, name in zip(self.players, ("ann", "bob", "cid", "dan"), strict=True)
        }
        self.finished_s: dict[str, float] = {}
        """When each part of the workload was done, in seconds from the start of the run."""
        self._began = time.monotonic()

    @property
    def mention(self) -> str:
        return f"<@{self.twin.bot_user.id}>"

    # ------------------------------------------------------------------------------------------ database
    async def scalar(self, query: Any) -> Any:
        async with self.engine.connect() as connection:
            return await connection.scalar(query)

    async def rows(self, query: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(query)).all())

    # ------------------------------------------------------------------------------------------ set-up
    async def _command(self, channel: int, user: int, name: str, options: dict[str, Any], sub: str) -> None:
        interaction = await self.twin.send_slash_command(channel, user, name, options, subcommand=sub)
        await interaction.wait_for_answers(1, timeout=15)

    async def start_games(self) -> None:
        """Open both trivia games and the story session (the bot is up and is not killed meanwhile)."""
        for channel in self.trivia_channels:
            await self._command(
                channel, self.players[0], "trivia", {"questions": TRIVIA_QUESTIONS, "seconds": 60}, "start"
            )
        ann = self.players[0]
        started = await self.twin.send_slash_command(
            self.story_channel, ann, "story", {"turn_order": "list"}, subcommand="start"
        )
        await started.wait_for_answers(1, timeout=15)
        lobby = started.original_message
        assert lobby is not None
        buttons = story_buttons(lobby)
        joined = await self.twin.click_button(self.story_channel, ann, int(lobby["id"]), buttons["john"])
        await joined.wait_for_answers(1, timeout=15)
        go = await self.twin.click_button(self.story_channel, ann, int(lobby["id"]), buttons["start"])
        await go.wait_for_answers(1, timeout=15)

    # ------------------------------------------------------------------------------------------ players
    async def chat(self, interval_s: float) -> None:
        """Send the script's chat messages, one every ``interval_s``, whether the bot is up or not."""
        for number, (channel_no, user_no, text) in enumerate(self.plan.chat):
            channel = self.chat_channels[channel_no]
            sent = await self.twin.send_message(channel, self.users[user_no], f"{self.mention} {text}")
            self.sent.append((channel, int(sent["id"])))
            if number + 1 < len(self.plan.chat):
                await asyncio.sleep(interval_s)

    async def trivia(self, channel: int, timeout: float) -> None:
        """Answer each question of the game in ``channel``: a wrong answer, then the right one."""
        deadline = time.monotonic() + timeout
        answered: set[int] = set()
        game_query = (
            select(TriviaGame.status, TriviaGame.question_index, TriviaGame.questions, TriviaGame.phase)
            .where(TriviaGame.channel_id == channel)
            .order_by(TriviaGame.id.desc())
            .limit(1)
        )
        while time.monotonic() < deadline:
            [(status, index, questions, phase)] = await self.rows(game_query)
            if status != "running":
                return
            if index not in answered and phase == "ask":
                answered.add(index)
                wrong, right = self.players[1 + index % 3], self.players[1 + (index + 1) % 3]
                await self.twin.send_message(channel, wrong, "no idea, the moon?")
                await self.twin.send_message(channel, right, str(questions[index]["a"][0]))
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the trivia game in channel {channel} did not finish in {timeout:.0f} s")

    async def story(self, timeout: float) -> None:
        """Play the session alone as John in list order, taking the script's pick in each scene."""
        deadline = time.monotonic() + timeout
        ann = self.players[0]
        for scene in range(1, STORY_SCENES + 1):
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the story did not get past scene {scene}")
                if await self._decided(scene):
                    break
                found = self._prompt(scene)
                if found is None:
                    await asyncio.sleep(0.2)
                    continue
                message_id, buttons = found
                options = list(buttons)
                pick = options[self.plan.story_picks[scene - 1] % len(options)]
                clicked = await self.twin.click_button(self.story_channel, ann, message_id, buttons[pick])
                with contextlib.suppress(TwinTimeout):
                    await clicked.wait_for_answers(1, timeout=4)
                for _ in range(20):
                    if await self._decided(scene):
                        break
                    await asyncio.sleep(0.2)
        ended = select(StorySession.status).where(StorySession.scope == f"channel:{self.story_channel}")
        while await self.scalar(ended) != "ended":
            if time.monotonic() > deadline:
                raise TimeoutError("the story did not end")
            await asyncio.sleep(0.2)

    async def _decided(self, scene: int) -> bool:
        query = (
            select(func.count()).select_from(StoryEvent).where(StoryEvent.kind == "decision", StoryEvent.scene == scene)
        )
        return bool(await self.scalar(query))

    def _prompt(self, scene: int) -> tuple[int, dict[str, str]] | None:
        pattern = re.compile(rf"^t2:story:\d+:{scene}:choose:")
        for message in reversed(self.twin.history(self.story_channel)):
            buttons = story_buttons(message)
            if any(pattern.match(custom) for custom in buttons.values()):
                return int(message["id"]), buttons
        return None

    async def killer(self, done: asyncio.Event) -> list[float]:
        """Kill and restart the bot after each of the plan's delays; returns when all kills are done."""
        points = []
        started = time.monotonic()
        for delay in self.plan.kill_delays:
            await asyncio.sleep(delay)
            points.append(round(time.monotonic() - started, 2))
            await self.bot.kill()
            await self.bot.start()
        done.set()
        return points

    # ------------------------------------------------------------------------------------------ the run
    async def _timed(self, name: str, work: Awaitable[None]) -> None:
        await work
        self.finished_s[name] = round(time.monotonic() - self._began, 1)

    async def run(self, *, kill: bool, chat_interval_s: float, timeout: float = 300.0) -> list[float]:
        """Start the games, play everything (killing the bot meanwhile when ``kill``), wait until all is settled."""
        self._began = time.monotonic()
        await self.start_games()
        self.finished_s["games started"] = round(time.monotonic() - self._began, 1)
        done = asyncio.Event()
        players: list[Awaitable[Any]] = [
            self._timed("chat sent", self.chat(chat_interval_s)),
            self._timed("story", self.story(timeout)),
            *(self._timed(f"trivia {n}", self.trivia(c, timeout)) for n, c in enumerate(self.trivia_channels)),
        ]
        killer = asyncio.ensure_future(self.killer(done)) if kill else None
        try:
            await asyncio.wait_for(asyncio.gather(*players), timeout)
            points = await killer if killer is not None else []
            self.finished_s["kills"] = round(time.monotonic() - self._began, 1)
        except BaseException:
            if killer is not None:
                killer.cancel()
                with contextlib.suppress(BaseException):
                    await killer
            raise
        await self.settle(timeout=90)
        self.finished_s["settled"] = round(time.monotonic() - self._began, 1)
        return points

    async def settle(self, timeout: float) -> None:
        """Wait until the outbox is empty and every chat message has as many answers as stored replies."""
        if not self.bot.running:
            await self.bot.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = await self.scalar(select(func.count()).select_from(OutboxPost))
            answered = sum(len(self.twin.messages.get(channel, ())) for channel in self.chat_channels)
            stored = await self.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.role == "user", Message.discord_message_id.is_not(None))
            )
            if depth == 0 and answered >= len(self.sent) and stored >= len(self.sent):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # time for a late duplicate to show

    # ------------------------------------------------------------------------------------------ figures
    async def figures(self, database: str, *, killed: bool) -> Figures:
        """Compare what was stored with what was posted."""
        result = Figures(database=database, killed=killed, kills=self.bot.kills, turns=len(self.sent))
        sent_ids = [message for _, message in self.sent]
        stored_ids = set(
            await self._all(select(Message.discord_message_id).where(Message.discord_message_id.in_(sent_ids)))
        )
        result.turns_stored = len(stored_ids)
        result.lost_turns = len(self.sent) - len(stored_ids)
        for channel in self.chat_channels:
            replies = await self._all(
                select(Message.text)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.scope == f"channel:{channel}", Message.role == "persona")
            )
            expected = Counter(part for text in replies for part in split_message(text))
            posted = Counter(post_text(message) for message in self.twin.messages.get(channel, ()))
            result.unanswered += sum((expected - posted).values())
            extra = posted - expected
            result.duplicate_posts += sum(count for text, count in extra.items() if text in expected)
            result.other_posts += sum(count for text, count in extra.items() if text not in expected)
        scores = await self.rows(select(TriviaScore.user, TriviaScore.points))
        for user, points in scores:
            name = self.names.get(user, user)
            result.trivia_points[name] = result.trivia_points.get(name, 0) + int(points)
        decisions = await self.rows(
            select(StoryEvent.scene, StoryEvent.option).where(StoryEvent.kind == "decision").order_by(StoryEvent.seq)
        )
        result.story_decisions = [(int(scene), str(option)) for scene, option in decisions]
        result.story_posts = Counter(_signature(m) for m in self.twin.messages.get(self.story_channel, ()))
        result.trivia_posts = {
            channel: Counter(_signature(m) for m in self.twin.messages.get(channel, ()))
            for channel in self.trivia_channels
        }
        result.outbox_left = int(await self.scalar(select(func.count()).select_from(OutboxPost)) or 0)
        result.finished_s = dict(self.finished_s)
        starts = sorted(self.bot.start_seconds)
        result.start_s_median = starts[len(starts) // 2] if starts else 0.0
        return result

    async def _all(self, query: Any) -> list[Any]:
        return [row[0] for row in await self.rows(query)]


def story_buttons(message: dict[str, Any]) -> dict[str, str]:
    """arg -> custom id of every story button on a message."""
    found = {}
    for row in message.get("components") or []:
        for button in row.get("components", []):
            custom_id = button.get("custom_id", "")
            if custom_id.startswith("t2:story:"):
                found[custom_id.rsplit(":", 1)[1]] = custom_id
    return found


def story_duplicates(baseline: Figures, run: Figures) -> tuple[int, int]:
    """(posts missing, posts posted more often) in the story channel, against the run that was not killed."""
    return sum((baseline.story_posts - run.story_posts).values()), sum(
        (run.story_posts - baseline.story_posts).values()
    )


def trivia_duplicates(run: Figures) -> int:
    """Trivia announcements posted more than once in their channel."""
    return sum(count - 1 for posts in run.trivia_posts.values() for count in posts.values() if count > 1)
