"""Builds the services once (engine, repositories, knowledge, personas) for any front end."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cards.guild import GuildCards
from bot.chat import ChatService
from bot.config import Settings
from bot.sharding import Ownership
from bot.story.service import Clock, StoryService
from bot.trivia.service import TriviaService
from db import migrate
from db.chat import UserRepository
from db.engine import create_engine, create_session_factory
from db.turn_writer import TurnWriter
from personas.engine import GroundedEngine
from personas.factbase import load_fact_base
from personas.knowledge import Knowledge
from personas.roster import PERSONAS
from personas.story import load_story
from personas.understanding.model import model_cache_dir

if TYPE_CHECKING:
    from bot.ops.metrics import Metrics

__all__ = ["App", "build_app"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class App:
    """The services every front end uses, and what they share."""

    settings: Settings
    ownership: Ownership
    """The shards (so the guilds) whose games and sessions this process runs."""
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    knowledge: Knowledge
    chat: ChatService
    writer: TurnWriter
    story: StoryService
    trivia: TriviaService
    exporters: dict[str, Callable[[str], Awaitable[dict[str, Any]]]] = field(default_factory=dict)
    """What /export gathers: each feature's "everything stored about this user", under the feature's name."""
    metrics: Metrics | None = None
    """What is counted for /metrics (None: metrics are off)."""

    async def export_user(self, user: str) -> dict[str, Any]:
        """Everything every feature stores about ``user``, JSON-ready: the chat's data, then one key per game."""
        data = await self.chat.export(user)
        for name, export in self.exporters.items():
            data[name] = await export(user)
        return data

    async def forget_user(self, user: str) -> int:
        """Delete everything every feature stores about ``user``, in one transaction, and any stored request to;
        returns how many rows went. If it fails, nothing is deleted (and a stored request stays for a retry)."""
        await self.trivia.leave_live_games(user)
        async with self.story.forgetting(user) as forget_story:
            async with self.writer.write_lock, self.sessions.begin() as session:
                removed = await self.chat.forget_in(session, user)
                removed += await self.trivia.forget_in(session, user)
                removed += await forget_story(session)
                await UserRepository(session).forget_request_done(user)
        self.chat.forget_cached(user)
        return removed

    async def request_forget(self, user: str) -> None:
        """Store that ``user`` asked to be forgotten, before telling them it is under way: if the process stops
        before ``forget_user`` has run, ``finish_forget_requests`` carries it out at the next start."""
        async with self.writer.write_lock, self.sessions.begin() as session:
            await UserRepository(session).request_forget(user)

    async def finish_forget_requests(self) -> int:
        """Carry out the /forget-me requests a stop left unfinished; returns how many."""
        async with self.sessions() as session:
            pending = await UserRepository(session).forget_requests()
        for user in pending:
            removed = await self.forget_user(user)
            log.info("finished a request to delete a user's data (%d rows)", removed)
        return len(pending)

    async def suspend_games(self) -> int:
        """Before a shutdown: pause running trivia games and story clocks, so each goes on with the time it had
        left at the next start; returns how many were paused."""
        return await self.trivia.suspend() + await self.story.suspend()

    async def close(self) -> None:
        """Finish pending writes and close the database (and the model backend's connections)."""
        if self.chat.model is not None:
            await self.chat.model.client.close()
        await self.writer.close()
        await self.story.close()
        await self.engine.dispose()


async def _upgrade(url: URL, timeout_s: float) -> None:
    """Bring the schema to the newest revision on an engine of its own, whose statements may take their time."""
    engine = create_engine(url, timeout_s=timeout_s, statement_timeout=False)
    try:
        await migrate.upgrade_if_needed(engine)
    finally:
        await engine.dispose()


def _add_model_backend(
    settings: Settings,
    chat: ChatService,
    responder: GroundedEngine,
    sessions: async_sessionmaker[AsyncSession],
    writer: TurnWriter,
) -> None:
    """Give the chat the optional model backend (used in guilds that turn it on with /persona model on)."""
    from bot.llm.backend import ModelBackend
    from bot.llm.client import ModelClient
    from bot.llm.policy import ModelPolicy

    assert settings.llm_base_url and settings.llm_model
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    client = ModelClient(
        settings.llm_base_url,
        settings.llm_model,
        api_key=key,
        timeout_s=settings.llm_timeout_s,
        max_tokens=settings.llm_max_tokens,
    )
    client.prepare()
    chat.model = ModelBackend(client, responder, PERSONAS)
    chat.model_policy = ModelPolicy(
        sessions, writer.write_lock, daily_tokens=settings.llm_daily_tokens, refresh_s=settings.settings_refresh_s
    )
    log.info("model backend: %s at %s, for guilds that turn it on", settings.llm_model, settings.llm_base_url)


async def build_app(
    settings: Settings,
    *,
    run_migrations: bool = True,
    clock: Clock = time.time,
    ownership: Ownership | None = None,
    metrics: Metrics | None = None,
) -> App:
    """Connect to the database, bring its schema to the newest revision, load the fact base, build services.

    ``clock`` (seconds, like ``time.time``) drives the games' deadlines; tests pass a fake one. ``ownership``: the
    shards this process runs (default: all of them); games and sessions of other guilds are left to their owner.
    ``metrics``, when given, counts the chat turns.
    """
    ownership = ownership or Ownership()
    url = settings.resolved_database_url()
    if run_migrations:
        await _upgrade(url, settings.db_timeout_s)
    engine = create_engine(url, timeout_s=settings.db_timeout_s)
    try:
        sessions = create_session_factory(engine)
        knowledge = Knowledge(load_fact_base())
        writer = TurnWriter(sessions)
        responder = GroundedEngine(knowledge, PERSONAS, cache_dir=model_cache_dir(settings.data_dir()))
        chat = ChatService(
            engine,
            sessions,
            responder,
            writer,
            PERSONAS,
            cache_size=settings.chat_cache_size,
            settings_refresh_s=settings.settings_refresh_s,
            on_turn=metrics.chat_turn if metrics is not None else None,
            on_model_answer=metrics.model_answer if metrics is not None else None,
            cards=GuildCards(
                sessions, writer.write_lock, knowledge.base, PERSONAS, refresh_s=settings.settings_refresh_s
            ),
        )
        if settings.llm_base_url and settings.llm_model:
            _add_model_backend(settings, chat, responder, sessions, writer)
        story = StoryService(
            sessions,
            writer.write_lock,
            load_story(knowledge.base),
            knowledge.base,
            clock=clock,
            default_persona=chat.default_persona,
            owns=ownership.owns,
        )
        trivia = TriviaService(sessions, knowledge.base, clock=clock, write_lock=writer.write_lock, owns=ownership.owns)
    except BaseException:
        await engine.dispose()
        raise
    log.info("services ready on %s", url.get_backend_name())
    app = App(settings, ownership, engine, sessions, knowledge, chat, writer, story, trivia, metrics=metrics)
    app.exporters.update(trivia=trivia.export, story=story.export)
    try:
        await app.finish_forget_requests()
    except BaseException:
        await app.close()
        raise
    return app
