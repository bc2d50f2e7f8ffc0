"""Shared fixtures: a real SQLite file and a real PostgreSQL server, each test on a fresh empty database.

``database_url`` runs a test once per backend. The PostgreSQL server is started once per session, and only
when a test asks for it; ``T2_TEST_POSTGRES_URL`` points the tests at an existing server instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from personas.engine import GroundedEngine
from personas.factbase import FactBase, load_fact_base
from personas.knowledge import Knowledge
from personas.roster import PERSONAS
from personas.understanding.model import default_cache_dir
from tests.postgres import (
    ENV_URL,
    PostgresError,
    PostgresServer,
    create_database,
    drop_database,
    find_binaries,
    normalise_url,
    searched_locations,
    wait_until_ready,
)

BACKENDS = ["sqlite", "postgresql"]

# Every app the tests build shares one cached understanding model (built once, keyed by the fact base and code)
# instead of building its own in each test's data folder.
os.environ.setdefault("T2_CACHE_DIR", str(default_cache_dir()))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL database on a server that lives as long as the test session.

    Skips when no server binaries are installed, except on CI (``CI`` set), where it fails: CI must run them.
    """
    existing = os.environ.get(ENV_URL, "").strip()
    if existing:
        yield _existing_server(existing)
        return
    binaries = find_binaries()
    if binaries is None:
        reason = f"PostgreSQL server binaries not found (install postgresql): looked for {searched_locations()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the PostgreSQL tests must run there", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(binaries)
    started = time.perf_counter()
    problem = None
    try:
        url = server.start()
    except PostgresError as exc:
        problem = str(exc)
    if problem is not None:  # failed outside the except block, so the report is the message alone
        pytest.fail(problem, pytrace=False)
    print(f"\n[postgres] {binaries.version} ready at {url} in {time.perf_counter() - started:.2f} s")
    try:
        yield url
    finally:
        stopping = time.perf_counter()
        server.stop()
        print(f"\n[postgres] stopped and removed in {time.perf_counter() - stopping:.2f} s")


def _existing_server(raw: str) -> str:
    problem = None
    try:
        url = normalise_url(raw)
        wait_until_ready(url, timeout=10)
    except (PostgresError, ArgumentError) as exc:
        problem = f"{ENV_URL}: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database in a real file, new for each test."""
    return f"sqlite+aiosqlite:///{tmp_path}/t2.db"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    server_url = request.getfixturevalue("postgres_url")
    url = create_database(server_url)
    try:
        yield url
    finally:
        drop_database(server_url, url)


@pytest_asyncio.fixture
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The project's engine on ``database_url``, with the schema at the head revision."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def sessions(migrated_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The project's session factory on the migrated database."""
    return create_session_factory(migrated_engine)


@pytest_asyncio.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the database of the test module's own ``settings``, to check what the bot stored."""
    created = create_engine(settings.resolved_database_url())
    yield created
    await created.dispose()


@pytest.fixture(scope="session")
def fact_base() -> FactBase:
    """The shipped fact base."""
    return load_fact_base()


@pytest.fixture(scope="session")
def grounded_engine(fact_base: FactBase) -> GroundedEngine:
    """The offline engine over the shipped fact base (its model from the shared cache)."""
    return GroundedEngine(Knowledge(fact_base), PERSONAS)
