"""Shard leases: no two processes ever run the same shard on one database.

On PostgreSQL a process holds one session-level advisory lock per shard it runs, on a connection of its own; the
server drops the locks the moment that connection ends, so a process killed with ``kill -9`` frees its shards at
once. Each process also holds a shared lock naming its shard count: processes that split the guilds with different
shard counts would both own some guilds, so a count that differs from a running one is refused.

Discord lets each identify bucket (``shard_id % max_concurrency``) of a bot start one session every 5 seconds, however
many processes it runs in: on PostgreSQL a process takes the bucket's advisory lock before it identifies a shard and
keeps it that long, so processes that start together take turns.

SQLite is one file on one machine, served by one process: a lock file next to the database refuses a second one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from db.engine import is_sqlite

__all__ = ["Lease", "Shards", "ShardsTaken", "acquire_shards"]

log = logging.getLogger(__name__)

SHARD_LOCKS = 0x7432_0001
"""The advisory lock namespace (first key) of the per-shard locks; the second key is ``count << 16 | shard``."""
LAYOUT_LOCKS = 0x7432_0002
"""The namespace of the shared locks naming a process's shard count (second key)."""
IDENTIFY_LOCKS = 0x7432_0004
"""The namespace of the locks that space the identifies of one bucket (second key) across processes."""


class Shards(Protocol):
    """The shards a process asks for (``bot.sharding.Ownership``)."""

    @property
    def shard_count(self) -> int: ...

    @property
    def shard_ids(self) -> tuple[int, ...]: ...

    def describe(self) -> str: ...


class ShardsTaken(Exception):
    """Another process runs these shards (or the database, for SQLite); the message says which and what to do."""


class Lease(Protocol):
    """The shards a process holds until it releases them or dies."""

    async def keep(self) -> bool:
        """Check the lease is still held, taking it again after a lost connection; False when another process holds
        it now (not when the database cannot be reached: then it is checked again next time)."""

    async def release(self) -> None:
        """Give the shards up."""

    async def identify_turn(self, bucket: int, hold_s: float) -> None:
        """Wait until no other process is identifying in ``bucket``, then keep the others from it for ``hold_s``
        (if the database fails, return at once: identifying a little early beats not identifying)."""


def _shard_key(count: int, shard: int) -> int:
    return (count << 16) | shard


class _AdvisoryLease:
    """Advisory locks on a PostgreSQL connection kept for this purpose."""

    def __init__(self, url: URL, shards: Shards, timeout_s: float) -> None:
        self._engine: AsyncEngine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": timeout_s})
        self._shards = shards
        self._conn: AsyncConnection | None = None
        self._turns: set[asyncio.Task[None]] = set()

    async def try_take(self) -> str | None:
        """Take every lock, or none: None when taken, else why not."""
        if self._conn is None:
            self._conn = await self._engine.connect()
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        conn = self._conn
        count = self._shards.shard_count
        await conn.execute(text("SELECT pg_advisory_lock_shared(:ns, :count)"), {"ns": LAYOUT_LOCKS, "count": count})
        others = await conn.execute(
            text(
                "SELECT DISTINCT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns "
                "AND objsubid = 2 AND objid <> :count AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"ns": LAYOUT_LOCKS, "count": count},
        )
        if counts := sorted(int(row[0]) for row in others):
            await self._unlock_all()
            return f"another process runs with SHARD_COUNT={counts[0]}, not {count}"
        taken: list[int] = []
        for shard in self._shards.shard_ids:
            got = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": SHARD_LOCKS, "key": _shard_key(count, shard)}
            )
            if not got:
                await self._unlock_all()
                return f"shard {shard} of {count} is run by another process"
            taken.append(shard)
        return None

    async def _unlock_all(self) -> None:
        if self._conn is not None:
            await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))

    async def keep(self) -> bool:
        try:
            assert self._conn is not None
            await self._conn.execute(text("SELECT 1"))
            return True
        except (DBAPIError, OSError, AssertionError):
            log.warning("lost the database connection that holds %s; taking them again", self._shards.describe())
        await self._drop_connection()
        try:
            return await self.try_take() is None
        except (DBAPIError, OSError):
            # The database cannot be reached (restarting, say): no process can take the shards there meanwhile, and
            # the next check takes them again, or finds that another process has.
            await self._drop_connection()
            log.warning("cannot reach the database to take %s again; trying at the next check", self._shards.describe())
            return True

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.invalidate()
            except (DBAPIError, OSError):
                pass

    async def identify_turn(self, bucket: int, hold_s: float) -> None:
        try:
            conn = await self._engine.connect()
        except (DBAPIError, OSError, TimeoutError) as exc:
            log.warning("identifying without waiting for other processes: the database failed (%s)", exc)
            return
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT pg_advisory_lock(:ns, :bucket)"), {"ns": IDENTIFY_LOCKS, "bucket": bucket})
        except (DBAPIError, OSError, TimeoutError) as exc:
            await conn.invalidate()
            log.warning("identifying without waiting for other processes: the database failed (%s)", exc)
            return
        except BaseException:
            await conn.invalidate()
            raise
        turn = asyncio.create_task(self._end_turn(conn, hold_s), name=f"identify-bucket-{bucket}")
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)

    @staticmethod
    async def _end_turn(conn: AsyncConnection, hold_s: float) -> None:
        """Hold the bucket for ``hold_s``, then let it go with its connection."""
        try:
            await asyncio.sleep(hold_s)
        finally:
            try:
                await conn.close()
            except (DBAPIError, OSError):
                await conn.invalidate()

    async def release(self) -> None:
        for turn in list(self._turns):
            turn.cancel()
        await asyncio.gather(*self._turns, return_exceptions=True)
        await self._drop_connection()
        await self._engine.dispose()


class _FileLease:
    """An exclusive lock on ``<database>.lock``, held by this process's open file."""

    def __init__(self, database_path: str) -> None:
        from filelock import FileLock

        database = Path(database_path).expanduser().resolve()
        self.path = database.with_name(database.name + ".lock")
        self._lock = FileLock(self.path, timeout=0)

    async def try_take(self) -> str | None:
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout:
            return f"another bot process uses {self.path.with_suffix('')}; SQLite serves one process"
        return None

    async def keep(self) -> bool:
        return self._lock.is_locked

    async def release(self) -> None:
        self._lock.release()

    async def identify_turn(self, bucket: int, hold_s: float) -> None:
        """One process serves a SQLite database: its own pacing is enough."""


async def acquire_shards(
    url: URL,
    shards: Shards,
    *,
    wait_s: float,
    timeout_s: float = 5.0,
    poll_s: float = 1.0,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Lease:
    """Take the lease on ``shards``'s shards, waiting up to ``wait_s`` for a process that still holds them (one
    that is stopping, say); raises ShardsTaken after that."""
    lease: _AdvisoryLease | _FileLease
    if is_sqlite(url):
        assert url.database is not None
        lease = _FileLease(url.database)
    else:
        lease = _AdvisoryLease(url, shards, timeout_s)
    deadline = time.monotonic() + wait_s
    while True:
        why = await lease.try_take()
        if why is None:
            log.info("running %s", shards.describe())
            return lease
        if time.monotonic() >= deadline:
            await lease.release()
            raise ShardsTaken(f"cannot run {shards.describe()}: {why}")
        log.warning("waiting for %s: %s", shards.describe(), why)
        await sleep(poll_s)
