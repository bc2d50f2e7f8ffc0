"""What every feature's repositories share: the storage error, and dialect-aware helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "Repository",
    "StaleWrite",
    "StorageError",
    "check_versions",
    "describe_failure",
    "insert_for",
    "storable",
    "unavailable",
]


class StorageError(Exception):
    """The database could not do what was asked; the message says what."""


class StaleWrite(StorageError):
    """A row changed since this process read it (another process wrote it): nothing was stored; read it again."""


async def check_versions(session: AsyncSession, key: Any, version: Any, read: Mapping[int, int], what: str) -> None:
    """Raise StaleWrite unless every row (its ``key`` -> the ``version`` it was read at) is still at that version.

    The rows stay locked until the commit (FOR UPDATE on PostgreSQL; SQLite lets one writer in at a time, and a
    write on a snapshot older than another's commit fails), so the check holds for the writes that follow it.
    """
    if not read:
        return
    found = await session.execute(select(key, version).where(key.in_(list(read))).with_for_update())
    stored = {row_key: row_version for row_key, row_version in found.tuples()}
    if stale := sorted(row_key for row_key, wanted in read.items() if stored.get(row_key) != wanted):
        raise StaleWrite(f"{what} {stale[0]} changed since it was read ({len(stale)} stale)")


def unavailable(exc: BaseException) -> bool:
    """True when the database did not answer at all: locked past its timeout, timed out, or the connection is lost.

    Every write of a batch fails alike then, so trying its writes one by one would only wait again for each.
    """
    if isinstance(exc, TimeoutError | sa_exc.TimeoutError):  # asyncpg's command_timeout; the connection pool
        return True
    if isinstance(exc, StorageError) and exc.__cause__ is not None:
        return unavailable(exc.__cause__)
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    return False


def describe_failure(exc: BaseException) -> str:
    """A database failure in one line for the log, without the statement or its parameters (user text)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}".strip()
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


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
