"""The async engine and session factory, with SQLite tuned for a bot (WAL, foreign keys, busy timeout).

Every database call is bounded in time: a locked SQLite file is waited for ``timeout_s`` at most (its busy
timeout), and on PostgreSQL each statement (asyncpg's ``command_timeout``) and each new connection get
``timeout_s``. Past it the call fails with the driver's error (SQLite's "database is locked", or TimeoutError),
which the services report as a failure the user can retry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["DEFAULT_TIMEOUT_S", "SQLITE_PRAGMAS", "create_engine", "create_session_factory", "is_sqlite"]

DEFAULT_TIMEOUT_S = 5.0
"""How long a database call may wait for a lock or an answer (``DB_TIMEOUT_S``)."""

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def is_sqlite(url: URL | str) -> bool:
    """True when the URL points at SQLite."""
    return str(url).startswith("sqlite")


def _sqlite_pragmas(busy_ms: int) -> Any:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, f"PRAGMA busy_timeout={busy_ms}"):
            cursor.execute(pragma)
        cursor.close()

    return set_pragmas


def create_engine(
    url: URL | str, *, echo: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S, statement_timeout: bool = True
) -> AsyncEngine:
    """Create the async engine; SQLite connections get the project's pragmas on connect.

    ``timeout_s`` bounds lock waits (SQLite), connecting and, with ``statement_timeout``, each statement
    (PostgreSQL). Migrations pass ``statement_timeout=False``: rewriting a large table may take longer.
    """
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": timeout_s})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(int(timeout_s * 1000)))
        return engine
    connect_args: dict[str, Any] = {"timeout": timeout_s}
    if statement_timeout:
        connect_args["command_timeout"] = timeout_s
    return create_async_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """One session per unit of work; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
