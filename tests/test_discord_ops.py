"""/healthz and /metrics end to end: the real bot against the loopback Discord twin, scraped over real HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, Settings
from bot.discord.client import CompanionBot
from bot.ops.logs import configure_handler
from tests.twin import DiscordTwin, run_client

pytest_plugins = ["tests.twin.fixtures"]

RunBot = Callable[..., AbstractAsyncContextManager[CompanionBot]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

HEALTHY = {"healthy": True, "gateway_connected": True, "database_reachable": True, "outbox_depth": 0}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/data/ops.db",
        discord_token="twin-token",
        metrics_port=0,
        outbox_poll_s=300,  # a post left in the outbox stays there for the test to see
    )


@pytest.fixture
def run_bot(twin: DiscordTwin, settings: Settings) -> RunBot:
    def start(**overrides: Any) -> AbstractAsyncContextManager[CompanionBot]:
        return run_client(twin, CompanionBot(settings.model_copy(update=overrides)))

    return start


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    general = twin.add_text_channel(guild.id, "general")
    alice = twin.add_member(guild.id, name="alice")
    return {"guild": guild, "general": general, "alice": alice}


def url(bot: CompanionBot, path: str) -> str:
    assert bot.monitor is not None
    return f"http://127.0.0.1:{bot.monitor.server.port}{path}"


async def scrape(bot: CompanionBot) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(url(bot, "/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def health(bot: CompanionBot) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url(bot, "/healthz")) as response:
        return response.status, await response.json()


async def health_becomes(bot: CompanionBot, status: int) -> dict[str, Any]:
    """Ask /healthz until it answers ``status`` (the client notices a closed socket a moment after it closes)."""
    async with asyncio.timeout(5.0):
        while True:
            got, body = await health(bot)
            if got == status:
                return body
            await asyncio.sleep(0.02)


def replies(samples: Samples) -> dict[str, float]:
    return {dict(labels)["kind"]: value for (name, labels), value in samples.items() if name == "t2_chat_replies_total"}


def mention(twin: DiscordTwin, text: str) -> str:
    return f"<@{twin.bot_user.id}> {text}"


@contextmanager
def json_log_lines() -> Iterator[io.StringIO]:
    """Capture the root logger's records as JSON lines, as ``LOG_FORMAT=json`` writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    configure_handler(handler, "json")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


async def test_metrics_count_each_turn_by_kind_and_healthz_reports_a_healthy_bot(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot() as bot:
        before = await scrape(bot)
        await twin.send_message(channel, alice, mention(twin, "t800, what is skynet?"))
        await twin.send_message(channel, alice, mention(twin, "hi"))
        fact, small_talk = await twin.wait_for_messages(channel, 2)
        after = await scrape(bot)
        requests_made = len(twin.requests)
        status, body = await health(bot)
    assert "Skynet" in fact["content"]
    assert small_talk["raw"]["username"] == "John Connor"
    assert before[("t2_chat_turns_total", ())] == 0
    assert after[("t2_chat_turns_total", ())] == 2
    assert replies(after) == {"fact": 1, "small_talk": 1, "dont_know": 0, "refused": 0, "model": 0, "other": 0}
    assert after[("t2_chat_turn_seconds_count", ())] == 2
    assert 0 < after[("t2_chat_turn_seconds_sum", ())] < 10
    assert after[("t2_discord_request_seconds_count", ())] == requests_made
    assert after[("t2_database_errors_total", ())] == 0
    assert not [key for key in after if key[0] == "t2_discord_rate_limited_total"]
    assert after[("t2_gateway_connected", ())] == 1
    assert after[("t2_database_reachable", ())] == 1
    assert after[("t2_outbox_depth", ())] == 0
    assert after[("t2_trivia_games_running", (("shard", "0"),))] == 0
    assert after[("t2_story_sessions_running", (("shard", "0"),))] == 0
    assert (status, body) == (200, HEALTHY)


async def test_a_429_is_counted_and_a_post_discord_refused_shows_in_the_outbox_depth(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot() as bot:
        await twin.send_message(channel, alice, mention(twin, "who is dyson?"))
        await twin.wait_for_messages(channel, 1)  # the webhook exists now: the next replies are posted through it
        twin.fail_next(status=429, retry_after=0.05, path_contains="/webhooks/", method="POST")
        await twin.send_message(channel, alice, mention(twin, "what is skynet?"))
        await twin.wait_for_messages(channel, 2)  # discord.py waited and posted it again
        twin.fail_next(status=400, code=50035, path_contains="/webhooks/", method="POST")
        await twin.send_message(channel, alice, mention(twin, "when is judgment day?"))
        await twin.wait_for_request(lambda r: r.injected and r.status == 400, method="POST", path="^/webhooks/")
        body = await health_becomes(bot, 200)
        samples = await scrape(bot)
    assert len(twin.messages[channel]) == 2
    assert body == {**HEALTHY, "outbox_depth": 1}
    assert samples[("t2_outbox_depth", ())] == 1
    assert samples[("t2_discord_rate_limited_total", (("scope", "user"),))] == 1
    assert samples[("t2_chat_turns_total", ())] == 3


async def test_healthz_fails_while_the_gateway_is_down_and_recovers_when_it_resumes(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    async with run_bot() as bot:
        assert await health(bot) == (200, HEALTHY)
        async with twin.disconnected():
            down = await health_becomes(bot, 503)
            samples = await scrape(bot)
        back = await health_becomes(bot, 200)
    assert down == {**HEALTHY, "healthy": False, "gateway_connected": False}
    assert samples[("t2_gateway_connected", ())] == 0
    assert back == HEALTHY


async def test_a_database_that_is_gone_fails_healthz_and_counts_the_error_the_user_was_told(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, settings: Settings
) -> None:
    channel, alice, guild = world["general"].id, world["alice"].id, world["guild"].id
    folder = settings.data_dir()
    async with run_bot() as bot:
        await twin.send_message(channel, alice, mention(twin, "who is dyson?"))
        await twin.wait_for_messages(channel, 1)
        folder.rename(folder.with_name("moved"))  # new connections cannot open the file...
        await bot.app.engine.dispose()  # ...and the open ones are closed
        try:
            down = await health_becomes(bot, 503)
            with json_log_lines() as logged:
                await twin.send_message(channel, alice, mention(twin, "what is skynet?"))
                [_, told] = await twin.wait_for_messages(channel, 2)
            samples = await scrape(bot)
        finally:
            folder.with_name("moved").rename(folder)
        back = await health_becomes(bot, 200)
    assert down == {"healthy": False, "gateway_connected": True, "database_reachable": False, "outbox_depth": None}
    assert "(ref " in told["embeds"][0]["description"]
    assert samples[("t2_database_errors_total", ())] == 1
    assert samples[("t2_database_reachable", ())] == 0
    assert samples[("t2_chat_turns_total", ())] == 1
    assert back == HEALTHY
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    [fault] = [line for line in lines if "failed, the user may try again" in line["message"]]
    assert fault["logger"] == "bot.discord.cogs.chat.listener" and fault["level"] == "WARNING"
    assert (fault["guild"], fault["channel"], fault["shard"]) == (str(guild), str(channel), 0)


async def test_running_trivia_games_and_story_sessions_are_gauged_by_shard(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    lounge = twin.add_text_channel(world["guild"].id, "lounge").id
    async with run_bot() as bot:
        start = await twin.send_slash_command(channel, alice, "trivia", {"questions": 2}, subcommand="start")
        await start.wait_for_answers(1)
        lobby = await twin.send_slash_command(lounge, alice, "story", subcommand="start")
        await lobby.wait_for_answers(1)
        playing = await scrape(bot)
        stop = await twin.send_slash_command(channel, alice, "trivia", subcommand="stop")
        await stop.wait_for_answers(1)
        stopped = await scrape(bot)
    assert playing[("t2_trivia_games_running", (("shard", "0"),))] == 1
    assert playing[("t2_story_sessions_running", (("shard", "0"),))] == 1
    assert stopped[("t2_trivia_games_running", (("shard", "0"),))] == 0
    assert stopped[("t2_story_sessions_running", (("shard", "0"),))] == 1


async def test_without_a_metrics_port_nothing_is_served_or_counted(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_bot(metrics_port=None) as bot:
        await twin.send_message(channel, alice, mention(twin, "what is skynet?"))
        [reply] = await twin.wait_for_messages(channel, 1)
        assert bot.monitor is None and bot.metrics is None and bot.app.metrics is None
    assert "Skynet" in reply["content"]


async def test_a_metrics_port_in_use_stops_start_up_with_one_line_naming_it(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            async with run_bot(metrics_port=port):
                pass
    assert str(raised.value).startswith(f"METRICS_PORT: cannot listen on 127.0.0.1:{port} (")
