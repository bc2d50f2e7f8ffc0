"""Copy every table of the schema from one database to another (SQLite to PostgreSQL, or any other pair).

``transfer`` checks that the source is at the newest revision and that the target holds no rows, upgrades the
target to the newest revision, copies each table in foreign key order in batches, keeping primary keys, points
PostgreSQL's id sequences past the copied ids, and returns each table's row count on both sides. The copy is one
transaction on the target: when anything fails, the target is left with its schema and no rows, ready for
another try. The source is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Integer, Table, func, insert, inspect, select, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import migrate
from db.common import describe_failure
from db.engine import DEFAULT_TIMEOUT_S, create_engine, is_sqlite
from db.schema import metadata

__all__ = ["DEFAULT_BATCH_SIZE", "TableCount", "TransferError", "format_counts", "transfer"]

DEFAULT_BATCH_SIZE = 1000
"""Rows read and inserted at a time."""

Progress = Callable[[str, int], None]
"""Called with a table's name and the rows copied into it so far."""


class TransferError(Exception):
    """The copy was refused or failed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class TableCount:
    """One table's rows in the source and in the target after the copy."""

    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        """True when both sides hold the same number of rows."""
        return self.source == self.target


async def transfer(
    source: URL,
    target: URL,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
) -> list[TableCount]:
    """Copy every table from ``source`` to ``target``; returns the row counts of both, table by table."""
    _check_urls(source, target)
    source_engine = create_engine(source, timeout_s=timeout_s, statement_timeout=False)
    target_engine = create_engine(target, timeout_s=timeout_s, statement_timeout=False)
    step = f"reading the source {_shown(source)}"
    try:
        await _check_source_revision(source_engine)
        step = f"reading the target {_shown(target)}"
        await _check_target_is_empty(target_engine)
        step = "bringing the target to the newest revision"
        await migrate.upgrade(target_engine)
        step = "copying"
        await _copy(source_engine, target_engine, batch_size, progress)
        step = "counting the rows"
        return await _count_both(source_engine, target_engine)
    except (DBAPIError, OSError) as exc:  # unreachable, refused, timed out (TimeoutError is an OSError)
        raise TransferError(f"{step} failed: {describe_failure(exc)}") from exc
    finally:
        await source_engine.dispose()
        await target_engine.dispose()


def format_counts(counts: Sequence[TableCount]) -> str:
    """The counts as a plain text table, one line per table, differences marked."""
    width = max([len("table"), *(len(count.table) for count in counts)])
    lines = [f"{'table':<{width}}  {'source':>9}  {'target':>9}"]
    for count in counts:
        mark = "" if count.matches else "  differs"
        lines.append(f"{count.table:<{width}}  {count.source:>9,}  {count.target:>9,}{mark}")
    return "\n".join(lines)


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _check_urls(source: URL, target: URL) -> None:
    if is_sqlite(source):
        assert source.database is not None
        if not Path(source.database).expanduser().is_file():
            raise TransferError(f"the source database {source.database} does not exist")
    if _same_database(source, target):
        raise TransferError("the source and the target are the same database")
    if is_sqlite(target):
        assert target.database is not None
        Path(target.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _same_database(source: URL, target: URL) -> bool:
    if is_sqlite(source) and is_sqlite(target):
        assert source.database is not None and target.database is not None
        return Path(source.database).expanduser().resolve() == Path(target.database).expanduser().resolve()
    return _shown(source.set(password=None)) == _shown(target.set(password=None))


async def _check_source_revision(engine: AsyncEngine) -> None:
    """The source must be at the newest revision, so that its tables are those the copy reads.

    It is not upgraded here: the source is the copy to fall back on, so this command only reads it.
    """
    current, head = await migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        return
    if current is None:
        raise TransferError(f"the source {_shown(engine.url)} holds no t2-companion schema: is the URL right?")
    raise TransferError(
        f"the source is at revision {current}, not at the newest ({head}): bring it there first with "
        "`python -m bot migrate` (DATABASE_URL set to the source), then run migrate-data again"
    )


def _table_names(connection: Connection) -> list[str]:
    return [name for name in inspect(connection).get_table_names() if name != "alembic_version"]


async def _check_target_is_empty(engine: AsyncEngine) -> None:
    """Refuse a target with rows in any table, before anything is changed there."""
    async with engine.connect() as connection:
        filled = []
        for name in await connection.run_sync(_table_names):
            quoted = connection.dialect.identifier_preparer.quote(name)
            if await connection.scalar(text(f"SELECT 1 FROM {quoted} LIMIT 1")) is not None:
                filled.append(name)
    if filled:
        raise TransferError(
            f"the target {_shown(engine.url)} already holds rows (in {', '.join(sorted(filled))}); nothing was "
            "changed. Copy into a new, empty database, or empty this one first (for example with "
            "`python -m bot migrate --downgrade base`, DATABASE_URL set to the target: it drops every table)"
        )


async def _copy(source: AsyncEngine, target: AsyncEngine, batch_size: int, progress: Progress | None) -> None:
    async with source.connect() as reading, target.begin() as writing:
        for table in metadata.sorted_tables:
            copied = 0
            columns = list(table.columns)
            rows = await reading.stream(select(*columns).order_by(*table.primary_key.columns))
            async for batch in rows.partitions(batch_size):
                values = [{column.key: value for column, value in zip(columns, row, strict=True)} for row in batch]
                try:
                    await writing.execute(insert(table), values)
                except DBAPIError as exc:
                    raise TransferError(
                        f"copying {table.name} failed after {copied} rows, so nothing was copied: "
                        f"{describe_failure(exc)}"
                    ) from exc
                copied += len(values)
                if progress is not None:
                    progress(table.name, copied)
        if writing.dialect.name == "postgresql":
            for table in metadata.sorted_tables:
                await _continue_sequence(writing, table)


async def _continue_sequence(connection: AsyncConnection, table: Table) -> None:
    """Point the sequence of ``table``'s integer id (if it has one) past the largest id copied."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return
    key = keys[0]
    sequence = await connection.scalar(select(func.pg_get_serial_sequence(table.name, key.name)))
    if sequence is None:
        return
    largest = await connection.scalar(select(func.max(key)))
    # is_called=false: the next id handed out is this value itself, 1 for an empty table
    await connection.execute(select(func.setval(sequence, (largest or 0) + 1, False)))


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table.name: int(await connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in metadata.sorted_tables
        }


async def _count_both(source: AsyncEngine, target: AsyncEngine) -> list[TableCount]:
    before, after = await _counts(source), await _counts(target)
    return [TableCount(name, before[name], after[name]) for name in before]
