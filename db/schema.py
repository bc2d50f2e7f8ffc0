"""The whole schema: every model module, imported so that Alembic and the drift check see all tables."""

from __future__ import annotations

from sqlalchemy import MetaData

from db.models import Base

__all__ = ["metadata"]

# Feature model modules register their tables on Base.metadata when imported; list each one here.
import db.trivia_models  # noqa: F401
from db import story_models  # noqa: F401

metadata: MetaData = Base.metadata
