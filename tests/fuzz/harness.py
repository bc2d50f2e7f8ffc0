"""The real bot against the loopback Discord, started once and driven case by case from synchronous hypothesis tests.

Hypothesis calls a synchronous function once per example, so the twin and the bot run in an event loop of their
own in a background thread; each case is a coroutine submitted to that loop. After each case ``problems()`` lists
what went wrong since the previous check: an error logged by discord.py or by the bot, a 4xx or 5xx answered to the
bot (faults injected on purpose excluded), a post without ``allowed_mentions`` parse [], or a post of the bot's that
Discord would make ping someone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.config import Settings
from bot.discord.client import CompanionBot
from bot.limits import SlidingWindow
from tests.fuzz.strategies import Ids
from tests.twin import DiscordTwin, run_client

T = TypeVar("T")

POSTING_ROUTES = ("/messages", "/webhooks/", "/callback")


class FuzzBot(CompanionBot):
    """The real bot; its posts are not paced to 5 per 5 s per channel, so thousands of cases fit in a minute."""

    async def setup_hook(self) -> None:
        await super().setup_hook()
        self.poster._pacer = SlidingWindow(1_000_000, 1.0)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass(frozen=True)
class Leaf:
    """A slash command as people run it: name, group, subcommand and its option specs as synced to Discord."""

    name: str
    group: str | None
    subcommand: str | None
    options: tuple[dict[str, Any], ...]

    @property
    def qualified_name(self) -> str:
        return " ".join(part for part in (self.name, self.group, self.subcommand) if part)


def leaves(commands: list[dict[str, Any]]) -> list[Leaf]:
    """Every runnable slash command in a synced command list."""
    found = []
    for command in commands:
        if command.get("type", 1) != 1:
            continue
        options = command.get("options") or []
        nested = [o for o in options if o["type"] in (1, 2)]
        if not nested:
            found.append(Leaf(command["name"], None, None, tuple(options)))
        for option in nested:
            if option["type"] == 1:
                found.append(Leaf(command["name"], None, option["name"], tuple(option.get("options") or [])))
            else:
                for sub in option.get("options") or []:
                    found.append(Leaf(command["name"], option["name"], sub["name"], tuple(sub.get("options") or [])))
    return found


@dataclass
class World:
    """The test server: one guild, some channels and members, and a DM per member."""

    guild: int
    general: int
    lounge: int
    auto: int
    thread: int
    users: dict[str, int]
    dms: dict[str, int]
    roles: list[int]
    outsider: int
    humans: set[int] = field(default_factory=set)


class LoopThread:
    """An asyncio event loop running in a background thread, for driving async code from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.call(_cancel_others, timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def call(self, work: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``work()`` in the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(work(), self.loop).result(timeout)


async def _cancel_others() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class LiveBot:
    """A started twin with a world and the bot connected to it, in a background event loop."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/fuzz.db",
            discord_token="twin-token",
            chat_turns_per_user=1_000_000,
            **overrides,
        )
        self._loop = LoopThread()
        self._stack = contextlib.AsyncExitStack()
        self._errors = _Collector()
        self._checked_requests = 0
        self._checked_messages = 0
        self._checked_errors = 0
        self.posts_checked = 0
        """How many of the bot's posts had their allowed_mentions checked."""
        # Thousands of cases go through one channel: Discord's per-channel limits would make them wait minutes.
        # The limits are checked by tests of their own; here each case checks what the bot does with the input.
        self.twin = DiscordTwin(rate_limits=False)
        self.bot: FuzzBot

    # ---------------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> LiveBot:
        self._loop.__enter__()
        logging.getLogger("bot").addHandler(self._errors)
        try:
            self.call(self._start, timeout=60)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._stack.aclose, timeout=60)
        finally:
            logging.getLogger("bot").removeHandler(self._errors)
            self._loop.__exit__(None, None, None)
        if self.twin.server_errors:
            raise AssertionError(f"the twin's handlers raised: {self.twin.server_errors!r}")

    async def _start(self) -> None:
        twin = self.twin
        await twin.start()
        self._stack.push_async_callback(twin.stop)
        guild = twin.add_guild("Resistance")
        general = twin.add_text_channel(guild.id, "general")
        lounge = twin.add_text_channel(guild.id, "lounge")
        auto = twin.add_text_channel(guild.id, "auto-chat")
        thread = twin.add_thread(general.id, "judgment day")
        roles = [twin.add_role(guild.id, name).id for name in ("resistance", "cyberdyne")]
        users = {
            "alice": twin.add_member(guild.id, name="alice", roles=roles[:1]).id,
            "bob": twin.add_member(guild.id, name="bob").id,
            "mod": twin.add_member(guild.id, name="mod", manage_messages=True).id,
            "admin": twin.add_member(guild.id, name="admin", manage_guild=True).id,
        }
        outsider = twin.add_user("outsider").id
        dms = {name: twin.add_dm_channel(uid).id for name, uid in users.items()}
        self.world = World(
            guild.id,
            general.id,
            lounge.id,
            auto.id,
            thread.id,
            users,
            dms,
            roles,
            outsider,
            {*users.values(), outsider},
        )
        self.bot = await self._stack.enter_async_context(run_client(twin, FuzzBot(self.settings), timeout=60))
        await self.bot.channels.set_auto_persona(auto.id, guild.id, "t800")

    # ---------------------------------------------------------------------------------------- driving
    def call(self, work: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``work()`` in the bot's loop and return its result."""
        return self._loop.call(work, timeout)

    @property
    def ids(self) -> Ids:
        w = self.world
        return Ids(
            users=[*w.users.values(), w.outsider],
            roles=[*w.roles, w.guild],
            channels=[w.general, w.lounge, w.auto, w.thread],
            bot=self.twin.bot_user.id,
        )

    def command_leaves(self) -> list[Leaf]:
        """The slash commands the bot synced, checked against its command tree: a new command is fuzzed too."""
        found = leaves(self.twin.commands())
        tree = {c.qualified_name for c in self.bot.tree.walk_commands() if isinstance(c, app_commands.Command)}
        assert {leaf.qualified_name for leaf in found} == tree
        return found

    @staticmethod
    def dynamic_items() -> list[type[discord.ui.DynamicItem[Any]]]:
        """Every DynamicItem class the bot defines (the persistent buttons), found through its subclasses."""
        seen: list[type[discord.ui.DynamicItem[Any]]] = []
        pending: list[type[Any]] = [discord.ui.DynamicItem]
        while pending:
            for sub in pending.pop().__subclasses__():
                pending.append(sub)
                if sub.__module__.startswith("bot.") and sub not in seen:
                    seen.append(sub)
        return seen

    # ---------------------------------------------------------------------------------------- checks
    def problems(self) -> list[str]:
        """What went wrong since the last call (run it in the bot's loop through ``call``)."""
        found: list[str] = []
        twin = self.twin
        errors = [*twin.client_errors, *self._errors.records]
        for record in errors[self._checked_errors :]:
            found.append(
                f"logged error: {record.name}: {record.getMessage()} {record.exc_info and record.exc_info[1]!r}"
            )
        self._checked_errors = len(errors)
        requests = twin.requests
        for request in requests[self._checked_requests :]:
            if request.status >= 400 and not request.injected:
                found.append(f"{request.status} to {request.method} {request.path}: {request.response}")
            found.extend(self._allowed_mentions_problems(request))
        self._checked_requests = len(requests)
        messages = list(twin.world.messages.values())
        found.extend(self.ping_problems(messages[self._checked_messages :]))
        self._checked_messages = len(messages)
        return found

    def ping_problems(self, messages: list[dict[str, Any]] | None = None) -> list[str]:
        """Posts of the bot (as itself, through a webhook or as an interaction answer) that mention anyone."""
        found = []
        for message in list(self.twin.world.messages.values()) if messages is None else messages:
            if int(message["author"]["id"]) in self.world.humans and message.get("webhook_id") is None:
                continue
            if message.get("mentions") or message.get("mention_roles") or message.get("mention_everyone"):
                found.append(f"message {message['id']} pings: {message.get('content', '')[:200]!r}")
        return found

    def _allowed_mentions_problems(self, request: Any) -> Iterator[str]:
        if request.method not in ("POST", "PATCH") or not any(part in request.path for part in POSTING_ROUTES):
            return
        body = request.json if isinstance(request.json, dict) else {}
        if request.path.endswith("/callback"):
            body = body.get("data") or {}
        if not any(key in body for key in ("content", "embeds")):
            return
        allowed = body.get("allowed_mentions")
        self.posts_checked += 1
        if (
            not isinstance(allowed, dict)
            or allowed.get("parse") != []
            or allowed.get("users")
            or allowed.get("roles")
            or allowed.get("replied_user")
        ):
            yield f"{request.method} {request.path} without allowed_mentions parse []: {allowed!r}"
