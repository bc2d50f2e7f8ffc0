"""The model backend through Discord: the real client against the loopback Discord and the loopback model server.
A moderator turns it on per server; a guarded model reply is posted, anything else gives the offline reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Settings
from bot.discord.client import CompanionBot
from tests.modeltwin import ModelTwin, grounded
from tests.twin import DiscordTwin, run_client

pytest_plugins = ["tests.twin.fixtures"]

DATE = "f-judgment-day-date"


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


async def test_a_moderator_turns_the_model_on_and_its_guarded_replies_are_posted(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, model: ModelTwin
) -> None:
    channel, mention = world["general"].id, f"<@{twin.bot_user.id}>"
    async with run_client(twin, CompanionBot(settings)):
        refused = await twin.send_slash_command(
            channel, world["alice"].id, "persona", {"state": "on"}, subcommand="model"
        )
        await refused.wait_for_answers(1)
        await twin.send_message(channel, world["alice"].id, f"{mention} john, when is judgment day?")
        [offline] = await twin.wait_for_messages(channel, 1)
        assert model.requests == []  # not on yet
        turned = await twin.send_slash_command(
            channel, world["admin"].id, "persona", {"state": "on"}, subcommand="model"
        )
        await turned.wait_for_answers(1)
        model.script(
            grounded("Mom made sure I know it: August 29, 1997.", [DATE]),
            grounded("August 29, 1997. Kyle Reese told her, back in 1984. @everyone", [DATE]),
        )
        await twin.send_message(channel, world["alice"].id, f"{mention} john, when is judgment day?")
        await twin.send_message(channel, world["alice"].id, f"{mention} john, and what date again?")
        _, modelled, guarded = await twin.wait_for_messages(channel, 3)
        why = await twin.send_slash_command(channel, world["alice"].id, "why")
        [explained] = await why.wait_for_answers(1)
    assert refused.answers[0]["ephemeral"] is True and "Manage Server" in refused.answers[0]["data"]["content"]
    assert "1997" in offline["content"]
    assert "now worded by the model" in turned.answers[0]["data"]["content"]
    assert modelled["content"] == "Mom made sure I know it: August 29, 1997."
    assert modelled["raw"]["username"] == "John Connor" and modelled["raw"]["allowed_mentions"] == {"parse": []}
    assert "Kyle" not in guarded["content"] and "@everyone" not in guarded["content"]  # the offline reply instead
    assert "1997" in guarded["content"]
    assert len(model.requests) == 2
    assert "worded by the language model" not in explained["data"]["content"]  # the last reply was the offline one
    assert DATE in explained["data"]["content"]


async def test_without_a_configured_model_the_command_says_so(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/plain.db", discord_token="twin-token")
    async with run_client(twin, CompanionBot(settings)):
        asked = await twin.send_slash_command(
            world["general"].id, world["admin"].id, "persona", {"state": "on"}, subcommand="model"
        )
        [answer] = await asked.wait_for_answers(1)
    assert answer["ephemeral"] is True and "No language model is configured" in answer["data"]["content"]
