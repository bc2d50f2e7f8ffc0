"""Alembic migrations on real SQLite files and a real PostgreSQL server: schema, drift, round trips, data."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import migrate
from db.chat import ChannelRepository, ConversationRepository, TurnRecord, UserRepository
from db.chat.models import GuildSettings
from db.engine import create_engine, create_session_factory
from db.migrate import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    schema_drift,
    upgrade,
    upgrade_if_needed,
)
from db.schema import metadata
from tests.postgres import create_database, drop_database

MODEL_TABLES = set(metadata.tables)
SNOWFLAKE = 1_234_567_890_123_456_789

# What ``populate`` stores in each table (tables added later start empty).
POPULATED_COUNTS = {
    **dict.fromkeys(MODEL_TABLES, 0),
    "users": 3,
    "conversations": 6,
    "memories": 6,
    "messages": 24,
    "channel_settings": 2,
    "guild_settings": 1,
}


async def populate(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Fill every table with realistic rows through the repositories (guild settings have none: ORM)."""
    async with sessions.begin() as session:
        users = UserRepository(session)
        conversations = ConversationRepository(session)
        for n in range(3):
            external_id = f"discord:{SNOWFLAKE + n}"
            await users.set_default_persona(external_id, "sarah")
            for scope, persona in (("dm", "john"), (f"channel:{SNOWFLAKE + 100 + n}", "t800")):
                state = await conversations.load_or_create(external_id, scope, persona)
                await conversations.write_turns(
                    [
                        TurnRecord(
                            conversation_id=state.conversation_id,
                            persona=persona,
                            user_text=f"who is the T-1000? ({n}/{turn})",
                            reply_text=f"A prototype. Liquid metal. ({n}/{turn})",
                            fact_ids=["mall.t1000", f"road.{turn}"],
                            turn=turn,
                            memory={"entities": ["t1000"], "facts": ["mall.t1000"], "turn": turn},
                            discord_message_id=SNOWFLAKE + 1000 * n + 10 * turn + len(scope),
                        )
                        for turn in (1, 2)
                    ]
                )
        channels = ChannelRepository(session)
        await channels.set_auto_persona(SNOWFLAKE + 500, SNOWFLAKE + 900, "t800")
        await channels.set_webhook(SNOWFLAKE + 500, SNOWFLAKE + 900, SNOWFLAKE + 501, "token-" + "x" * 60)
        await channels.set_webhook(SNOWFLAKE + 600, None, SNOWFLAKE + 601, "other-token")
        session.add(GuildSettings(guild_id=SNOWFLAKE + 900, default_persona="john"))


def _table_names(sync: Connection) -> set[str]:
    return set(inspect(sync).get_table_names())


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(_table_names)


def _dump(sync: Connection) -> dict[str, list[tuple[Any, ...]]]:
    metadata = MetaData()
    metadata.reflect(sync)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for name, table in metadata.tables.items():
        if name == "alembic_version":
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        rows[name] = [tuple(row) for row in sync.execute(select(table).order_by(*order))]
    return rows


async def dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the database has now (whatever its revision), in primary key order."""
    async with engine.connect() as connection:
        return await connection.run_sync(_dump)


async def counts(engine: AsyncEngine) -> dict[str, int]:
    return {name: len(rows) for name, rows in (await dump(engine)).items()}


async def alembic_versions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())


def revision_steps() -> list[tuple[str, str]]:
    """(revision, down_revision) for every revision that has a parent, newest first, checking the history."""
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())
    assert revisions, "no migrations found"
    assert revisions[0].revision == head_revision()
    assert revisions[-1].down_revision is None, "the oldest revision must start from an empty database"
    steps = []
    for revision in revisions:
        if revision.down_revision is None:
            continue
        assert isinstance(revision.down_revision, str), f"{revision.revision}: expected a linear history"
        steps.append((revision.revision, revision.down_revision))
    assert len(steps) == len(revisions) - 1, "exactly one revision may have no parent"
    return steps


@pytest_asyncio.fixture
async def empty_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The project's engine on a database without any schema."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_upgrade_creates_every_table_of_the_models(empty_engine: AsyncEngine) -> None:
    assert await table_names(empty_engine) == set()
    assert await current_revision(empty_engine) is None

    await upgrade(empty_engine)

    assert await table_names(empty_engine) == MODEL_TABLES | {"alembic_version"}
    assert {"users", "conversations", "messages", "memories", "channel_settings", "guild_settings"} <= MODEL_TABLES
    head = head_revision()
    assert head is not None
    assert await current_revision(empty_engine) == head
    assert await alembic_versions(empty_engine) == [head]
    assert await counts(empty_engine) == dict.fromkeys(MODEL_TABLES, 0)


async def test_upgrade_if_needed_migrates_an_empty_database_once(empty_engine: AsyncEngine) -> None:
    assert await upgrade_if_needed(empty_engine) is True
    assert await current_revision(empty_engine) == head_revision()
    assert await upgrade_if_needed(empty_engine) is False
    assert await alembic_versions(empty_engine) == [head_revision()]


def test_the_head_read_from_the_migration_files_is_alembics_head() -> None:
    assert migrate.packaged_head() == head_revision() is not None


async def test_upgrade_if_needed_leaves_an_older_database_to_alembic(empty_engine: AsyncEngine) -> None:
    head, parent = revision_steps()[0]
    await upgrade(empty_engine, parent)
    assert await upgrade_if_needed(empty_engine) is True
    assert await alembic_versions(empty_engine) == [head]


def test_a_start_on_a_database_at_head_does_not_import_alembic(sqlite_url: str) -> None:
    """Alembic costs about a quarter of a second to import: a bot whose database is up to date starts without it."""
    program = (
        "import asyncio, sys\n"
        "from db.engine import create_engine\n"
        "from db.migrate import upgrade_if_needed\n"
        "async def main():\n"
        f"    engine = create_engine({sqlite_url!r})\n"
        "    print(await upgrade_if_needed(engine), 'alembic' in sys.modules)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
    )
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", program]
    runs = [subprocess.run(command, cwd=root, capture_output=True, text=True, check=True) for _ in range(2)]
    assert [run.stdout.split() for run in runs] == [["True", "True"], ["False", "False"]]


async def test_no_schema_drift_after_upgrade(migrated_engine: AsyncEngine) -> None:
    assert await schema_drift(migrated_engine) == []


async def test_schema_drift_is_reported_for_a_missing_table(migrated_engine: AsyncEngine) -> None:
    """The drift check itself works: dropping a table behind Alembic's back shows up."""
    async with migrated_engine.begin() as connection:
        await connection.execute(text("DROP TABLE guild_settings"))
    drift = await schema_drift(migrated_engine)
    assert [entry[0] for entry in drift if isinstance(entry, tuple)] == ["add_table"]
    assert drift[0][1].name == "guild_settings"  # type: ignore[index]


async def test_downgrade_to_base_drops_every_table_and_upgrade_restores_them(empty_engine: AsyncEngine) -> None:
    await upgrade(empty_engine)

    await downgrade(empty_engine, "base")

    assert await table_names(empty_engine) == {"alembic_version"}  # Alembic keeps its (now empty) table
    assert await alembic_versions(empty_engine) == []
    assert await current_revision(empty_engine) is None

    await upgrade(empty_engine)

    assert await table_names(empty_engine) == MODEL_TABLES | {"alembic_version"}
    assert await current_revision(empty_engine) == head_revision()
    assert await schema_drift(empty_engine) == []


async def test_upgrade_on_a_populated_database_is_a_no_op(
    migrated_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await populate(sessions)
    before = await dump(migrated_engine)
    assert {name: len(rows) for name, rows in before.items()} == POPULATED_COUNTS

    assert await upgrade_if_needed(migrated_engine) is False
    await upgrade(migrated_engine)
    await upgrade(migrated_engine, "head")

    assert await dump(migrated_engine) == before
    assert await current_revision(migrated_engine) == head_revision()
    assert await schema_drift(migrated_engine) == []


async def test_populated_database_downgraded_to_base_and_upgraded_is_empty_and_drift_free(
    migrated_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await populate(sessions)
    assert await counts(migrated_engine) == POPULATED_COUNTS

    await downgrade(migrated_engine, "base")
    assert await table_names(migrated_engine) == {"alembic_version"}

    await upgrade(migrated_engine)

    assert await counts(migrated_engine) == dict.fromkeys(MODEL_TABLES, 0)
    assert await schema_drift(migrated_engine) == []
    await populate(sessions)  # and the recreated schema takes the same data again
    assert await counts(migrated_engine) == POPULATED_COUNTS


async def check_every_step(engine: AsyncEngine) -> int:
    """For each revision r with a parent: populate, go to r, down one step, back to head; no rows lost.

    Only the rows of tables that exist on both sides of a step are compared: a step that creates a table
    drops it (and its rows) on the way down, by design. Returns the number of steps checked.
    """
    sessions = create_session_factory(engine)
    steps = revision_steps()
    head = head_revision()
    for revision, parent in steps:
        await upgrade(engine)
        await populate(sessions)
        await downgrade(engine, revision)  # a no-op when revision is the head
        at_revision = await counts(engine)

        await downgrade(engine, parent)
        assert await current_revision(engine) == parent
        at_parent = await counts(engine)
        for table in sorted(at_revision.keys() & at_parent.keys()):
            assert at_parent[table] == at_revision[table], f"{revision} -> {parent} lost rows of {table}"

        await upgrade(engine)
        assert await current_revision(engine) == head
        at_head = await counts(engine)
        for table in sorted(at_revision.keys() & at_parent.keys() & at_head.keys()):
            assert at_head[table] == at_revision[table], f"{parent} -> head lost rows of {table}"
        assert await schema_drift(engine) == []

        await downgrade(engine, "base")  # the next step starts from an empty database
        assert await table_names(engine) == {"alembic_version"}
    return len(steps)


async def test_every_downgrade_step_keeps_the_rows_of_surviving_tables(empty_engine: AsyncEngine) -> None:
    """The packaged migrations, step by step (no step yet with revision 0001 alone), then the head itself."""
    assert await check_every_step(empty_engine) == len(revision_steps())

    sessions = create_session_factory(empty_engine)
    await upgrade(empty_engine)
    await populate(sessions)
    before = await dump(empty_engine)
    assert {name: len(rows) for name, rows in before.items()} == POPULATED_COUNTS
    assert await upgrade_if_needed(empty_engine) is False
    await upgrade(empty_engine)
    assert await dump(empty_engine) == before


RECREATE_USERS = """
# Rebuild the users table without changing it: what any SQLite migration that alters users does.

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = {parent!r}
branch_labels = None
depends_on = None


def _rebuild() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("probe", sa.Integer(), nullable=True))
    with op.batch_alter_table("users") as batch:  # on SQLite: copy, DROP TABLE users, rename
        batch.drop_column("probe")


def upgrade() -> None:
    _rebuild()


def downgrade() -> None:
    _rebuild()
"""


@pytest.fixture
def migrations_with_a_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The packaged migrations plus a revision 9999 that rebuilds ``users`` (schema unchanged, no drift)."""
    parent = head_revision()
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "9999_rebuild_users.py").write_text(RECREATE_USERS.format(parent=parent))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", folder)
    assert head_revision() == "9999"
    assert parent is not None
    return parent


async def test_a_revision_that_rebuilds_a_table_keeps_every_row(
    request: pytest.FixtureRequest, migrations_with_a_rebuild: str, empty_engine: AsyncEngine
) -> None:
    """Runs the step check on a real extra step, and upgrades a populated database through it.

    On SQLite, Alembic's batch mode rebuilds a table by copying it, DROP TABLE and rename. The project's
    connections have foreign_keys=ON, and db.migrate runs the migrations on such a connection, so the
    DROP TABLE users cascades (ON DELETE CASCADE) into conversations, messages and memories.
    """
    parent = migrations_with_a_rebuild
    sessions = create_session_factory(empty_engine)
    await upgrade(empty_engine, parent)
    await populate(sessions)  # the schema at the parent is the models' schema: 9999 changes nothing
    before = await dump(empty_engine)

    await upgrade(empty_engine)  # what a user's bot does on start after updating

    assert await current_revision(empty_engine) == "9999"
    assert await dump(empty_engine) == before
    await downgrade(empty_engine, "base")
    assert await check_every_step(empty_engine) == len(revision_steps()) >= 1


async def test_sqlite_connections_have_the_pragmas(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        await upgrade(engine)
        # Two connections at once, so both come from the pool's connect event, not a reused one.
        async with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                values = {
                    pragma: (await connection.exec_driver_sql(f"PRAGMA {pragma}")).scalar()
                    for pragma in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
                }
                assert values == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}
            # foreign_keys=ON is really enforced: a message of a conversation that does not exist is refused.
            with pytest.raises(Exception, match="FOREIGN KEY"):
                await first.execute(
                    text(
                        "INSERT INTO messages (conversation_id, role, text, fact_ids, created_at)"
                        " VALUES (424242, 'user', 'x', '[]', '2026-01-01 00:00:00')"
                    )
                )
    finally:
        await engine.dispose()


async def test_count_helper_counts_rows(
    migrated_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The dump used above sees what the database holds (checked against COUNT(*) per table)."""
    await populate(sessions)
    async with migrated_engine.connect() as connection:
        direct = {
            name: (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            for name, table in metadata.tables.items()
        }
    assert direct == POPULATED_COUNTS == await counts(migrated_engine)
    assert all(direct[table] > 0 for table in ("users", "conversations", "memories", "messages", "channel_settings"))


ROOT = Path(__file__).resolve().parents[1]
MIGRATE_IN_A_PROCESS = """
import asyncio, sys
from db import migrate
from db.engine import create_engine

async def main() -> bool:
    engine = create_engine(sys.argv[1])
    try:
        return await migrate.upgrade_if_needed(engine)
    finally:
        await engine.dispose()

print("migrated" if asyncio.run(main()) else "up to date", flush=True)
"""


async def test_processes_starting_together_on_postgresql_migrate_once(postgres_url: str) -> None:
    """Bot processes that run different shards of one PostgreSQL database start at the same time; each brings the
    schema up to date, and none fails because another one is creating the same tables."""
    url = create_database(postgres_url)
    engine = create_engine(url)
    try:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                MIGRATE_IN_A_PROCESS,
                url,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]
        outcomes = [await process.communicate() for process in processes]
        errors = [[line for line in err.decode().splitlines() if "Error" in line] for _, err in outcomes]
        assert [process.returncode for process in processes] == [0, 0, 0], errors
        assert all(out.strip() in (b"migrated", b"up to date") for out, _ in outcomes), outcomes
        assert await alembic_versions(engine) == [head_revision()]
        assert await schema_drift(engine) == []
    finally:
        await engine.dispose()
        drop_database(postgres_url, url)
