"""What every feature's repositories share: the storage error, and dialect-aware helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Repository", "StorageError", "insert_for", "storable"]


class StorageError(Exception):
    """The database could not do what was asked; the message says what."""


def storable(text: str) -> str:
    """Text as every backend can store it: PostgreSQL text cannot hold U+0000, so it becomes U+FFFD everywhere."""
    return text.replace("\x00", "\ufffd")


def insert_for(session: AsyncSession, table: Any) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can be told to ignore conflicts, in the dialect of the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Repository:
    """A repository works inside the session it is given; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
