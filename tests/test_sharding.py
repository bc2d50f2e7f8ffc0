"""Shards as configuration: which guild a process owns, how fast it identifies, and the lease that keeps two
processes off one shard (an advisory lock on PostgreSQL, a lock file on SQLite)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import ConfigError, load_settings
from bot.sharding import IdentifyGate, Ownership, ShardRangeError, parse_shard_ids, shard_of
from db.engine import create_engine
from db.leases import ShardsTaken, acquire_shards
from tests.postgres import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent


def test_shard_ids_are_read_as_ranges_and_lists() -> None:
    assert parse_shard_ids("0-3") == (0, 1, 2, 3)
    assert parse_shard_ids(" 4 ") == (4,)
    assert parse_shard_ids("6,0-1,1") == (0, 1, 6)
    for bad in ("", "a", "3-1", "1-", "-1"):
        with pytest.raises(ShardRangeError):
            parse_shard_ids(bad)


def test_a_guild_belongs_to_the_shard_discord_sends_it_on() -> None:
    guild = (123 << 22) | 4567  # the shard depends on the id's timestamp bits only
    assert shard_of(guild, 4) == 123 % 4 == 3
    assert shard_of(guild, 1) == 0
    assert shard_of(None, 4) == 0  # direct messages come on shard 0
    ownership = Ownership.of(4, [2, 3])
    assert ownership.owns(guild) and not ownership.owns(None) and not ownership.owns(1 << 22)
    assert Ownership().owns(guild) and Ownership().everything
    assert ownership.describe() == "shards 2-3 of 4"
    assert Ownership.of(8, [5]).describe() == "shard 5 of 8"
    assert Ownership.of(8, [0, 5]).describe() == "shards 0,5 of 8"
    with pytest.raises(ShardRangeError, match="shard 4 is outside 0-3"):
        Ownership.of(4, [4])


def test_shard_settings_are_checked_with_a_message_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{ROOT}/data/unused.db")
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "2-3")
    settings = load_settings()
    assert settings.sharded and settings.ownership() == Ownership(4, (2, 3))
    monkeypatch.setenv("SHARD_IDS", "3-5")
    with pytest.raises(ConfigError, match=r"^SHARD_IDS: shard 4 is outside 0-3"):
        load_settings()
    monkeypatch.setenv("SHARD_COUNT", "auto")
    with pytest.raises(ConfigError, match=r"^SHARD_IDS: give SHARD_COUNT as a number"):
        load_settings()
    monkeypatch.delenv("SHARD_IDS")
    settings = load_settings()
    assert settings.shard_count == "auto" and settings.ownership(shard_count=6) == Ownership(6, (0, 1, 2, 3, 4, 5))
    monkeypatch.setenv("SHARD_COUNT", "many")
    with pytest.raises(ConfigError, match=r"^SHARD_COUNT: expected a number of shards, or auto"):
        load_settings()
    monkeypatch.delenv("SHARD_COUNT")
    assert not load_settings().sharded and load_settings().ownership() == Ownership()


async def test_identify_follows_the_max_concurrency_buckets() -> None:
    now = [100.0]
    slept: list[tuple[int, float]] = []
    current = [-1]

    async def sleep(seconds: float) -> None:
        slept.append((current[0], seconds))
        now[0] += seconds

    gate = IdentifyGate(max_concurrency=2, clock=lambda: now[0], sleep=sleep)
    for shard in (0, 1, 2, 3):
        current[0] = shard
        await gate.wait(shard)
    # shards 0 and 1 are in different buckets and go at once; 2 waits for bucket 0, then 3 finds bucket 1 free
    assert slept == [(2, 5.0)]
    one_bucket = IdentifyGate(max_concurrency=1, clock=lambda: now[0], sleep=sleep)
    slept.clear()
    for shard in (0, 1, 2):
        current[0] = shard
        await one_bucket.wait(shard)
    assert slept == [(1, 5.0), (2, 5.0)]


_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy.engine import make_url
    from bot.sharding import Ownership
    from db.leases import acquire_shards

    async def main():
        shards = Ownership.of(int(sys.argv[2]), map(int, sys.argv[3:]))
        lease = await acquire_shards(make_url(sys.argv[1]), shards, wait_s=0)
        print("held", flush=True)
        await asyncio.sleep(600)
        await lease.release()

    asyncio.run(main())
    """
)


def _hold_in_another_process(url: str, count: int, *shards: int) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, str(count), *map(str, shards)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


async def test_sqlite_serves_one_bot_process_and_a_killed_one_frees_it(sqlite_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(sqlite_url)
    holder = _hold_in_another_process(sqlite_url, 1, 0)
    try:
        with pytest.raises(ShardsTaken, match=r"cannot run shard 0 of 1: another bot process uses .*t2\.db"):
            await acquire_shards(url, Ownership(), wait_s=0)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    lease = await acquire_shards(url, Ownership(), wait_s=0)
    assert await lease.keep()
    await lease.release()


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url)
    yield url
    drop_database(postgres_url, url)


async def test_postgres_gives_each_shard_to_one_process(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    first = await acquire_shards(url, Ownership.of(4, [0, 1]), wait_s=0)
    try:
        with pytest.raises(ShardsTaken, match=r"cannot run shards 1-2 of 4: shard 1 of 4 is run by another process"):
            await acquire_shards(url, Ownership.of(4, [1, 2]), wait_s=0)
        with pytest.raises(ShardsTaken, match=r"another process runs with SHARD_COUNT=4, not 8"):
            await acquire_shards(url, Ownership.of(8, [6]), wait_s=0)
        second = await acquire_shards(url, Ownership.of(4, [2, 3]), wait_s=0)  # the refused tries left nothing held
        await second.release()
    finally:
        await first.release()
    again = await acquire_shards(url, Ownership.of(4, [1, 2]), wait_s=0)
    await again.release()


async def test_postgres_frees_the_shards_of_a_killed_process_and_a_waiting_one_takes_them(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    holder = _hold_in_another_process(pg_url, 2, 0, 1)
    url = make_url(pg_url)
    try:
        with pytest.raises(ShardsTaken):
            await acquire_shards(url, Ownership.of(2, [1]), wait_s=0)
        waiting = asyncio.create_task(acquire_shards(url, Ownership.of(2, [1]), wait_s=60, poll_s=0.1))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    lease = await asyncio.wait_for(waiting, 30)
    await lease.release()


async def test_a_lease_whose_connection_dies_is_taken_again_unless_another_process_took_it(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    engine = create_engine(pg_url)

    async def kill_lease_connections() -> int:
        async with engine.connect() as conn:
            killed = await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM (SELECT DISTINCT pid FROM pg_locks "
                    "WHERE locktype = 'advisory' "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held"
                )
            )
            return sum(killed.scalars())

    lease = await acquire_shards(url, Ownership.of(2, [0]), wait_s=0)
    try:
        assert await kill_lease_connections() == 1
        assert await lease.keep()  # a new connection, the same shard
        assert await kill_lease_connections() == 1
        rival = await acquire_shards(url, Ownership.of(2, [0]), wait_s=5, poll_s=0.1)
        assert not await lease.keep()  # someone runs shard 0 now: this process must stop
        await rival.release()
    finally:
        await lease.release()
        await engine.dispose()


async def test_processes_identify_in_one_bucket_by_turns(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    first = await acquire_shards(url, Ownership.of(4, [0, 1]), wait_s=0)
    second = await acquire_shards(url, Ownership.of(4, [2, 3]), wait_s=0)
    try:
        await first.identify_turn(0, 600)  # shard 0 identifies; bucket 0 is its for the next 600 s
        await asyncio.wait_for(second.identify_turn(1, 600), 30)  # another bucket goes at once
        waiting = asyncio.create_task(second.identify_turn(0, 600))  # shard 2 is in bucket 0 too
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await first.release()  # a process that stops (or dies) frees its turn
        await asyncio.wait_for(waiting, 30)
    finally:
        await first.release()
        await second.release()


async def test_a_lease_is_kept_while_the_database_cannot_be_reached(postgres_url: str, pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    admin = create_engine(postgres_url)

    async def run(statement: str) -> None:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))

    lease = await acquire_shards(url, Ownership.of(2, [0]), wait_s=0)
    try:
        await run(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')  # as while PostgreSQL restarts
        await run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{url.database}'")
        assert await lease.keep(), "an unreachable database is no reason to stop serving"
        await run(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
        assert await lease.keep()
        with pytest.raises(ShardsTaken):  # taken again, and held
            await acquire_shards(url, Ownership.of(2, [0]), wait_s=0)
    finally:
        await run(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
        await lease.release()
        await admin.dispose()
