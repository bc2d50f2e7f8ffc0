"""StoryService: group story sessions (lobby, roles, turn order, votes, pauses, recap, epilogue); no discord here.

A facade over the modules of a session's life: ``store`` (running sessions, group commit), ``rules`` (what
happens next), ``clocks`` (deadlines, pauses, restarts), ``lobby`` (the cast), ``play`` (turns) and
``narration`` (status, recap, export, chat). Every change is committed before the service returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.story.clocks import Clocks
from bot.story.lobby import Lobby
from bot.story.model import ChatContext, Outcome, StoryConfig, Tick, Turn
from bot.story.narration import Narrator
from bot.story.play import Play
from bot.story.rules import Rules
from bot.story.store import SessionStore
from db.story.repository import SessionRow
from personas.factbase import FactBase
from personas.story import Story

__all__ = ["Clock", "StoryService"]

Clock = Callable[[], float]
"""Seconds since the epoch, as ``time.time``; injected so tests and benchmarks control time."""


class StoryService:
    """Group story sessions, one per place (scope), persisted on every change."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        story: Story,
        base: FactBase,
        *,
        clock: Clock = time.time,
        config: StoryConfig | None = None,
        default_persona: Callable[[str], Awaitable[str]] | None = None,
        owns: Callable[[int | None], bool] = lambda guild_id: True,
    ) -> None:
        """``owns`` tells the guilds whose sessions this process runs (all of them unless sharded)."""
        self.clock = clock
        self.story = story
        self.base = base
        self.config = config or StoryConfig()
        self._store = SessionStore(sessions, write_lock, owns)
        rules = Rules(story, base)
        self._clocks = Clocks(self._store, rules, self.config, self.now_ms)
        self._lobby = Lobby(self._store, rules, self._clocks, self.config, self.now_ms)
        self._play = Play(self._store, rules, self._clocks, self.now_ms)
        self._narrator = Narrator(self._store, rules, self._clocks, self.now_ms, default_persona)

    def now_ms(self) -> int:
        """The injected clock, in milliseconds."""
        return int(self.clock() * 1000)

    # ------------------------------------------------------------------ sessions
    async def load(self) -> None:
        """Read every running session of this process's guilds into memory (once); later calls do nothing."""
        await self._store.load()

    async def close(self) -> None:
        """Finish pending writes."""
        await self._store.close()

    def running_guilds(self) -> list[int | None]:
        """The guild of each session not ended (None for one outside a guild), once ``load`` has run."""
        return [row.guild_id for row in self._store.rows()]

    async def session_id(self, scope: str) -> int:
        """The id of the running session of this place; StoryRefusal when there is none."""
        return await self._store.session_id(scope)

    async def session_in(self, scope: str) -> SessionRow | None:
        """A copy of the running session of this place, if any."""
        return await self._store.session_in(scope)

    def check_free(self, scope: str) -> None:
        """StoryRefusal when a story runs in this place already; reads no database once ``load`` has run, so a
        command can refuse before it defers its answer (``open_lobby`` checks again)."""
        self._lobby.check_free(scope)

    # ------------------------------------------------------------------ lobby and cast
    async def open_lobby(
        self,
        scope: str,
        host: str,
        *,
        turn_order: str = "vote",
        vote_seconds: int | None = None,
        guild_id: int | None = None,
    ) -> Outcome:
        """Open a lobby in ``scope`` hosted by ``host``; refused when the place already has a session."""
        return await self._lobby.open(scope, host, turn_order=turn_order, vote_seconds=vote_seconds, guild_id=guild_id)

    async def join(self, session_id: int, user: str, name: str, role: str, fighter_name: str | None = None) -> Outcome:
        """Join (or change role) as John, Sarah, the T-800 or a resistance fighter named ``fighter_name``."""
        return await self._lobby.join(session_id, user, name, role, fighter_name)

    async def begin(self, session_id: int, user: str, *, can_moderate: bool = False) -> Outcome:
        """The host starts the story: scene 1 is told and its decision opened."""
        return await self._lobby.begin(session_id, user, can_moderate=can_moderate)

    async def leave(self, scope: str, user: str) -> Outcome:
        """Leave the session of this place; the story goes on without you."""
        return await self._lobby.leave(scope, user)

    async def leave_session(self, session_id: int, user: str) -> Outcome:
        """Leave from the lobby's Leave button."""
        return await self._lobby.leave_session(session_id, user)

    async def export(self, user: str) -> dict[str, Any]:
        """Every story session ``user`` played or hosted, with their own turns, JSON-ready (pending writes first)."""
        return cast(dict[str, Any], await self._store.submit(lambda repo: repo.export(user)))

    async def forget(self, user: str) -> int:
        """Remove ``user`` from every session; their turns stay in transcripts as "a former player"."""
        return await self._lobby.forget(user)

    def forgetting(self, user: str) -> AbstractAsyncContextManager[Callable[[AsyncSession], Awaitable[int]]]:
        """``forget`` in the caller's transaction: see ``Lobby.forgetting``."""
        return self._lobby.forgetting(user)

    # ------------------------------------------------------------------ turns
    async def choose(self, session_id: int, scene: int, user: str, option_id: str) -> Outcome:
        """A click on a decision button: the current player's choice, a vote, or the host's tie-break."""
        return await self._play.choose(session_id, scene, user, option_id)

    async def skip(self, scope: str, user: str, *, can_moderate: bool = False) -> Outcome:
        """Host or moderator: skip the current player (list, natural) or close the vote now (vote)."""
        return await self._play.skip(scope, user, can_moderate=can_moderate)

    async def end(self, scope: str, user: str, *, can_moderate: bool = False) -> Outcome:
        """Host or moderator: end the story now, with an epilogue of the choices so far."""
        return await self._play.end(scope, user, can_moderate=can_moderate)

    # ------------------------------------------------------------------ telling
    async def status(self, scope: str) -> Outcome:
        """Where the story is, who plays, whose turn; resumes a paused session."""
        return await self._narrator.status(scope)

    def describe(self, row: SessionRow, now_ms: int) -> str:
        """A few lines on the session's state."""
        return self._narrator.describe(row, now_ms)

    async def whose_turn(self, session_id: int) -> Turn | None:
        """Whose call it is in a running session (list and natural order); None in vote order or when over."""
        return await self._narrator.whose_turn(session_id)

    async def recap(self, scope: str) -> Outcome:
        """A persona nobody plays retells the session so far, from its stored transcript."""
        return await self._narrator.recap(scope)

    async def transcript(self, scope: str) -> dict[str, Any]:
        """The newest session of this place (running or ended) as JSON-ready data."""
        return await self._narrator.transcript(scope)

    async def chat_context(self, scope: str, text: str, persona: str | None, user: str) -> ChatContext | None:
        """How to answer a free question here: spoiler-safe at the session's scene, never as a played persona."""
        return await self._narrator.chat_context(scope, text, persona, user)

    # ------------------------------------------------------------------ the clock
    async def tick(self) -> list[Tick]:
        """Expire turns and votes whose time is up and pause idle sessions; returns what to announce."""
        return await self._clocks.tick()

    async def suspend(self) -> int:
        """Before a shutdown: stop every running clock, keeping each vote's and turn's remaining time."""
        return await self._clocks.suspend()

    async def restart_clocks(self) -> int:
        """After a start: run again the clocks ``suspend`` stopped, with the time they had left."""
        return await self._clocks.restart_clocks()
