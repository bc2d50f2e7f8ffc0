"""Builds the services once (engine, repositories, knowledge, personas) for any front end."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.chat import ChatService
from bot.config import Settings
from bot.story.service import Clock, StoryService
from bot.trivia.service import TriviaService
from db import migrate
from db.engine import create_engine, create_session_factory
from db.turn_writer import TurnWriter
from personas.engine import GroundedEngine
from personas.factbase import load_fact_base
from personas.knowledge import Knowledge
from personas.roster import PERSONAS
from personas.story import load_story
from personas.understanding.model import model_cache_dir

__all__ = ["App", "build_app"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class App:
    """The services every front end uses, and what they share."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    knowledge: Knowledge
    chat: ChatService
    writer: TurnWriter
    story: StoryService
    trivia: TriviaService
    forgetters: list[Callable[[str], Awaitable[int]]] = field(default_factory=list)
    """What /forget-me runs: each feature's "delete everything about this user", returning rows removed."""

    async def forget_user(self, user: str) -> int:
        """Delete everything every feature stores about ``user``; returns how many rows went."""
        removed = 0
        for forget in self.forgetters:
            removed += await forget(user)
        return removed

    async def close(self) -> None:
        """Finish pending writes and close the database."""
        await self.writer.close()
        await self.story.close()
        await self.engine.dispose()


async def build_app(settings: Settings, *, run_migrations: bool = True, clock: Clock = time.time) -> App:
    """Connect to the database, bring its schema to the newest revision, load the fact base, build services.

    ``clock`` (seconds, like ``time.time``) drives the games' deadlines; tests pass a fake one.
    """
    url = settings.resolved_database_url()
    engine = create_engine(url)
    try:
        if run_migrations:
            await migrate.upgrade_if_needed(engine)
        sessions = create_session_factory(engine)
        knowledge = Knowledge(load_fact_base())
        writer = TurnWriter(sessions)
        responder = GroundedEngine(knowledge, PERSONAS, cache_dir=model_cache_dir(settings.data_dir()))
        chat = ChatService(engine, sessions, responder, writer, PERSONAS, cache_size=settings.chat_cache_size)
        story = StoryService(
            sessions,
            writer.write_lock,
            load_story(knowledge.base),
            knowledge.base,
            clock=clock,
            default_persona=chat.default_persona,
        )
        trivia = TriviaService(sessions, knowledge.base, clock=clock, write_lock=writer.write_lock)
    except BaseException:
        await engine.dispose()
        raise
    log.info("services ready on %s", url.get_backend_name())
    app = App(settings, engine, sessions, knowledge, chat, writer, story, trivia)
    app.forgetters.extend((chat.forget, story.forget, trivia.forget))
    return app
