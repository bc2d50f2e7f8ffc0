"""The whole schema: every feature's models, imported so that Alembic and the drift check see all tables."""

from __future__ import annotations

from sqlalchemy import MetaData

# Each feature's models register their tables on Base.metadata when imported; list every feature here.
import db.chat.models
import db.llm.models
import db.outbox.models
import db.story.models
import db.trivia.models  # noqa: F401
from db.models import Base

__all__ = ["metadata"]

metadata: MetaData = Base.metadata
