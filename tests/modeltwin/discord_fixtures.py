"""pytest fixtures for the model backend through Discord: the loopback model server, a bot's settings that point at
it, and a server with a member and a moderator.

Use from a test module with ``pytest_plugins = ["tests.twin.fixtures", "tests.modeltwin.discord_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Settings
from tests.modeltwin.server import ModelTwin
from tests.twin import DiscordTwin


@pytest_asyncio.fixture
async def model() -> AsyncIterator[ModelTwin]:
    async with ModelTwin() as twin:
        yield twin


@pytest.fixture
def settings(tmp_path: Path, model: ModelTwin) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/discord.db",
        discord_token="twin-token",
        llm_base_url=model.base_url,
        llm_model=model.model,
        llm_timeout_s=3,
    )


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    general = twin.add_text_channel(guild.id, "general")
    alice = twin.add_member(guild.id, name="alice")
    admin = twin.add_member(guild.id, name="admin", manage_guild=True)
    return {"guild": guild, "general": general, "alice": alice, "admin": admin}
