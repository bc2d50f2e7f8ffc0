"""Run Alembic migrations from the application, sharing its async engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: a start on a database already at head never needs it (about 0.25 s).

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "schema_drift",
    "upgrade",
    "upgrade_if_needed",
]

MIGRATIONS_DIR = Path(migrations.__file__).parent
MIGRATION_LOCK = 0x7432_0003
"""The PostgreSQL advisory lock a migration holds (next to the shard locks of ``db.leases``)."""


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(?:[\"']([^\"']*)[\"']|None)", re.MULTILINE)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations, with no ini file needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run(connection: Connection, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    """Run migrations in one transaction.

    On SQLite, foreign keys are switched off around it: Alembic's batch mode rebuilds a table by
    dropping it, which would otherwise cascade deletes into every child table. Integrity is checked
    before the transaction commits. The pragma only takes effect outside a transaction.
    """
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        try:
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    # Processes that run different shards start together; the first migrates, the others wait here
                    # and then find the schema up to date (the lock ends with the transaction).
                    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                await connection.run_sync(_run, action, revision)
                if sqlite:
                    broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration to {revision} broke {len(broken)} foreign key(s): {broken[:3]}")
        finally:
            if sqlite:
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (``head`` by default) in one transaction."""
    await _migrate(engine, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` drops everything)."""
    await _migrate(engine, "downgrade", revision)


def head_revision() -> str | None:
    """The newest revision the packaged migrations define."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def packaged_head() -> str | None:
    """The newest revision, read from the migration files' ``revision`` and ``down_revision`` lines without Alembic:
    the one revision no other names as its parent. None when that is not one revision (Alembic must decide)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        lines = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if lines.get("revision"):
            revisions.add(lines["revision"])
            parents.add(lines.get("down_revision", ""))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def _stored_revision(engine: AsyncEngine) -> str | None:
    """The revision in the ``alembic_version`` table when it holds exactly one, read with plain SQL; else None."""
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:
        return None  # no table yet: an empty database
    return str(rows[0][0]) if len(rows) == 1 else None


async def schema_drift(engine: AsyncEngine) -> list[object]:
    """Differences between the models and the migrated database; empty means no drift."""

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from db.schema import metadata

    def compare(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


async def upgrade_if_needed(engine: AsyncEngine) -> bool:
    """Upgrade to head unless the database is already there; True when a migration ran.

    A database whose stored revision is the packaged head is known to be there without Alembic, which is then never
    imported; anything else is left to Alembic."""
    stored = await _stored_revision(engine)
    if stored is not None and stored == packaged_head():
        return False
    if await current_revision(engine) == head_revision():
        return False
    await upgrade(engine)
    return True
