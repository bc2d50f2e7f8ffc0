"""Trivia on Discord end to end: the real discord.py client against the twin, a fake game clock, real SQLite files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.discord.client import CompanionBot
from db.outbox.models import OutboxPost
from db.trivia.models import TriviaGame, TriviaScore, TriviaStats
from tests.clock import FakeClock
from tests.twin import DiscordTwin, Upload, run_client

pytest_plugins = ["tests.twin.fixtures"]


class ClockedBot(CompanionBot):
    """The real bot, with the trivia service on a fake clock and a fast ticker."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        super().__init__(settings, clock=clock)

    async def setup_hook(self) -> None:
        await super().setup_hook()
        play = self.get_cog("TriviaPlay")
        assert play is not None
        play.tick_s = 0.02  # type: ignore[attr-defined]


class SeededBot(ClockedBot):
    """The clocked bot with every game's question order seeded alike, so only what a channel heard changes it."""

    async def setup_hook(self) -> None:
        await super().setup_hook()
        self.app.trivia.seed = 11


RunBot = Callable[[], AbstractAsyncContextManager[CompanionBot]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/trivia.db", discord_token="twin-token")


@pytest.fixture
def run_bot(twin: DiscordTwin, settings: Settings, clock: FakeClock) -> RunBot:
    return lambda: run_client(twin, ClockedBot(settings, clock))


@pytest.fixture
def world(twin: DiscordTwin) -> dict[str, Any]:
    guild = twin.add_guild("Resistance")
    return {
        "guild": guild,
        "general": twin.add_text_channel(guild.id, "general"),
        "alice": twin.add_member(guild.id, name="alice"),
        "bob": twin.add_member(guild.id, name="bob"),
        "carol": twin.add_member(guild.id, name="carol"),
        "mod": twin.add_member(guild.id, name="mod", manage_messages=True),
        "admin": twin.add_member(guild.id, name="admin", manage_guild=True),
    }


async def question(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(TriviaGame.questions, TriviaGame.question_index).order_by(TriviaGame.id.desc()).limit(1)
            )
        ).one()
    asked: dict[str, Any] = row[0][row[1]]
    return asked


async def points(engine: AsyncEngine) -> dict[int, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(TriviaScore.user, TriviaScore.points))
    return {int(user.split(":")[1]): value for user, value in rows.all()}


async def test_a_whole_game_with_three_players(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice, bob, carol = world["general"].id, world["alice"].id, world["bob"].id, world["carol"].id
    async with run_bot():
        auto = await twin.send_slash_command(
            channel, world["admin"].id, "persona", {"persona": "t800"}, subcommand="channel"
        )
        await auto.wait_for_answers(1)
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "seconds": 30, "host": "sarah"}, subcommand="start"
        )
        [opening] = await start.wait_for_answers(1)
        [ask] = await twin.wait_for_messages(channel, 1)
        first = await question(engine)
        again = await twin.send_slash_command(channel, bob, "trivia", subcommand="start")
        [busy] = await again.wait_for_answers(1)

        await twin.send_message(channel, bob, "no idea, the moon?")
        await twin.send_message(channel, carol, first["a"][0])
        await twin.wait_for_messages(channel, 2)
        clock.advance(4)
        await twin.wait_for_messages(channel, 3)
        second = await question(engine)
        await twin.send_message(channel, alice, f"it's {second['a'][0]}")
        posted = await twin.wait_for_messages(channel, 5)
    assert opening["data"]["embeds"][0]["author"]["name"] == "Sarah Connor"
    assert busy["ephemeral"] is True and "already running" in busy["data"]["content"]
    assert ask["raw"]["username"] == "Sarah Connor" and first["q"] in ask["content"]
    assert "carol" in posted[1]["content"].lower() and first["fact_text"] in posted[1]["content"]
    assert "alice" in posted[3]["content"].lower()
    final = posted[4]["content"].lower()
    assert "carol: 10 points" in final and "alice: 10 points" in final
    assert all(message["raw"]["allowed_mentions"] == {"parse": []} for message in posted)
    assert len(twin.messages[channel]) == 5, "answers in an auto-chat channel are not chatted back"
    assert await points(engine) == {alice: 10, bob: 0, carol: 10}
    async with engine.connect() as connection:
        stats = {row.user: row for row in (await connection.execute(select(TriviaStats))).all()}
        status = await connection.scalar(select(TriviaGame.status))
    assert status == "finished"
    assert {user: (row.games, row.wins, row.attempted) for user, row in stats.items()} == {
        f"discord:{alice}": (1, 1, 1),
        f"discord:{bob}": (1, 0, 1),
        f"discord:{carol}": (1, 1, 1),
    }

    async with run_bot():
        board = await twin.send_slash_command(channel, bob, "trivia", {"metric": "wins"}, subcommand="leaderboard")
        [shown] = await board.wait_for_answers(1)
        mine = await twin.send_slash_command(channel, carol, "trivia", subcommand="stats")
        [figures] = await mine.wait_for_answers(1)
        forget = await twin.send_slash_command(channel, carol, "forget-me")
        [ask_forget] = await forget.wait_for_answers(1)
        confirm = ask_forget["data"]["components"][0]["components"][0]["custom_id"]
        click = await twin.click_button(channel, carol, int(forget.original_message["id"]), confirm)
        await click.wait_for_answers(2)
    assert (
        "alice" in shown["data"]["embeds"][0]["description"].lower()
        and "1 wins" in shown["data"]["embeds"][0]["description"]
    )
    assert "10 points" in figures["data"]["embeds"][0]["fields"][0]["value"]
    assert carol not in await points(engine), "/forget-me deletes trivia scores"
    async with engine.connect() as connection:
        assert f"discord:{carol}" not in set((await connection.scalars(select(TriviaStats.user))).all())


async def test_games_in_a_channel_do_not_open_with_the_same_question(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    other = twin.add_text_channel(world["guild"].id, "random").id
    opened: list[dict[str, Any]] = []
    posted: list[dict[str, Any]] = []

    async def one_game() -> None:
        start = await twin.send_slash_command(channel, alice, "trivia", {"questions": 2}, subcommand="start")
        await start.wait_for_answers(1)
        posted.append((await twin.wait_for_messages(channel, len(posted) + 1))[-1])
        opened.append(await question(engine))
        stop = await twin.send_slash_command(channel, alice, "trivia", subcommand="stop")
        await stop.wait_for_answers(1)

    async with run_client(twin, SeededBot(settings, clock)):
        await one_game()
        await one_game()
    async with run_client(twin, SeededBot(settings, clock)):  # what the channel heard outlives a restart
        await one_game()
        await one_game()
        start = await twin.send_slash_command(other, alice, "trivia", {"questions": 2}, subcommand="start")
        await start.wait_for_answers(1)
        [elsewhere] = await twin.wait_for_messages(other, 1)
    assert all(asked["q"] in ask["content"] for asked, ask in zip(opened, posted, strict=True))
    openers = [asked["q"] for asked in opened]
    assert len(set(openers)) == len(openers), f"the same seed, and games here opened with {openers}"
    assert openers[0] in elsewhere["content"], "a channel that heard nothing opens as this one's first game did"


async def test_a_restart_mid_question_continues_with_the_time_that_was_left(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    async with run_bot():
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 3, "seconds": 30}, subcommand="start"
        )
        await start.wait_for_answers(1)
        await twin.wait_for_messages(channel, 1)
        await twin.send_message(channel, bob, (await question(engine))["a"][0])
        await twin.wait_for_messages(channel, 2)
        clock.advance(4)
        await twin.wait_for_messages(channel, 3)
        asked = await question(engine)
        clock.advance(8)
    clock.advance(600)  # the bot was down for ten minutes
    async with run_bot():
        resumed = (await twin.wait_for_messages(channel, 4))[3]
        assert "22 seconds" in resumed["content"] and asked["q"] in resumed["content"]
        await twin.send_message(channel, bob, asked["a"][0])
        await twin.wait_until(
            lambda: any("bob" in m["content"].lower() for m in twin.messages[channel][4:]), what="correct"
        )
    assert await points(engine) == {bob: 20}, "the points from before the restart are kept"


async def games(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(TriviaGame)) or 0)


async def test_a_start_delivered_again_after_its_game_ended_starts_no_second_game(
    twin: DiscordTwin,
    world: dict[str, Any],
    run_bot: RunBot,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A bot that comes back after a crash may be sent the events of its last seconds again, the command that
    # started a game among them, when that game may be over already.
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    caplog.set_level(logging.INFO, logger="bot.discord.cogs.trivia.commands")
    async with run_bot():
        start = await twin.send_slash_command(channel, alice, "trivia", {"questions": 1}, subcommand="start")
        await start.wait_for_answers(1)
        await twin.wait_for_messages(channel, 1)
        await twin.send_message(channel, bob, (await question(engine))["a"][0])
        await twin.wait_for_messages(channel, 3)  # right, then the final scores: the game is over
        frames = twin.gateway_frames
        began = next(n for n, f in enumerate(frames) if f.t == "INTERACTION_CREATE" and int(f.d["id"]) == start.id)
        since = sum(1 for f in frames[began:] if f.direction == "out" and f.op == 0 and f.t != "RESUMED")
        await twin.drop_connection(4000, replay_last=since)
        again = f"trivia start {start.id} came again"
        for _ in range(500):
            if any(again in r.getMessage() for r in caplog.records) or await games(engine) > 1:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
    assert await games(engine) == 1, "the start delivered again started another game"
    assert any(again in r.getMessage() for r in caplog.records)
    assert len(twin.messages[channel]) == 3
    assert await outbox_depth(engine) == 0


async def test_choice_buttons_work_after_a_restart(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    async with run_bot():
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "mode": "choice"}, subcommand="start"
        )
        await start.wait_for_answers(1)
        [asked] = await twin.wait_for_messages(channel, 1)
    buttons = [c for row in asked["components"] for c in row["components"]]
    assert len(buttons) == 4 and all(b["custom_id"].startswith("t2:trivia:") for b in buttons)
    right = (await question(engine))["correct"]
    async with run_bot():
        await twin.wait_for_messages(channel, 2)  # the question again, with the time it had left
        click = await twin.click_button(channel, bob, int(asked["id"]), buttons[right]["custom_id"])
        [locked] = await click.wait_for_answers(1)
        twice = await twin.click_button(channel, bob, int(asked["id"]), buttons[(right + 1) % 4]["custom_id"])
        [refused] = await twice.wait_for_answers(1)
    assert locked["ephemeral"] is True and "Locked in" in locked["data"]["content"]
    assert refused["ephemeral"] is True and "already answered" in refused["data"]["content"]
    assert (await points(engine))[bob] == 10


async def test_only_the_starter_or_a_moderator_may_stop(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, engine: AsyncEngine
) -> None:
    channel, alice, bob = world["general"].id, world["alice"].id, world["bob"].id
    async with run_bot():
        start = await twin.send_slash_command(channel, alice, "trivia", subcommand="start")
        await start.wait_for_answers(1)
        stop = await twin.send_slash_command(channel, bob, "trivia", subcommand="stop")
        [refusal] = await stop.wait_for_answers(1)
        skip = await twin.send_slash_command(channel, bob, "trivia", subcommand="skip")
        [no_skip] = await skip.wait_for_answers(1)
        async with engine.connect() as connection:
            assert await connection.scalar(select(TriviaGame.status)) == "running"
        moderated = await twin.send_slash_command(channel, world["mod"].id, "trivia", subcommand="stop")
        [stopped] = await moderated.wait_for_answers(1)
    assert refusal["ephemeral"] is True and "Manage Messages" in refusal["data"]["content"]
    assert no_skip["ephemeral"] is True and "Manage Messages" in no_skip["data"]["content"]
    assert stopped["ephemeral"] is False and stopped["data"]["embeds"][0]["author"]["name"] == "T-800"
    async with engine.connect() as connection:
        assert await connection.scalar(select(TriviaGame.end_reason)) == "stopped"


GOOD_LIST = b"AUTHOR: admin\nWhat year is it?: [1995]\nIs it over?: [no]\n"
BAD_LIST = b"AUTHOR: admin\nWhat year is it?: [1995]\nWho wins?: skynet\n"


async def test_importing_lists_needs_manage_server_and_a_bad_file_names_its_line(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot
) -> None:
    channel, admin = world["general"].id, world["admin"].id
    async with run_bot():
        denied = await twin.send_slash_command(
            channel, world["alice"].id, "trivia", {"file": Upload("nineties.yaml", GOOD_LIST)}, subcommand="import"
        )
        [refusal] = await denied.wait_for_answers(1)
        bad = await twin.send_slash_command(
            channel, admin, "trivia", {"file": Upload("broken.yaml", BAD_LIST)}, subcommand="import"
        )
        bad_answers = await bad.wait_for_answers(1)
        good = await twin.send_slash_command(
            channel, admin, "trivia", {"file": Upload("nineties.yaml", GOOD_LIST)}, subcommand="import"
        )
        good_answers = await good.wait_for_answers(1)
        listing = await twin.send_slash_command(channel, admin, "trivia", subcommand="lists")
        [lists] = await listing.wait_for_answers(1)
        settings = await twin.send_slash_command(
            channel, admin, "trivia", {"lists": "nineties", "seconds": 15}, subcommand="settings"
        )
        [saved] = await settings.wait_for_answers(1)
    assert refusal["ephemeral"] is True and "Manage Server" in refusal["data"]["content"]
    error = bad_answers[-1]["data"]["content"]
    assert "broken.yaml" in error and "line 3" in error and "[answer, alias]" in error
    assert "Imported **nineties** (2 questions)" in good_answers[-1]["data"]["content"]
    assert "**nineties**: 2 questions by admin" in lists["data"]["content"]
    assert "lists nineties" in saved["data"]["content"] and "15 s" in saved["data"]["content"]


async def test_an_attachment_that_cannot_be_downloaded_gets_a_short_answer(
    twin: DiscordTwin, world: dict[str, Any], run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_bot():
        gone = await twin.send_slash_command(  # the twin's CDN cannot find a file named like a path
            world["general"].id,
            world["admin"].id,
            "trivia",
            {"file": Upload("../../etc/passwd", b"")},
            subcommand="import",
        )
        answers = await gone.wait_for_answers(1)
    assert answers[-1]["ephemeral"] is True and "Could not download" in answers[-1]["data"]["content"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- the outbox: an announcement is stored with its change and posted once, in order, whatever fails -----------


def said(message: dict[str, Any]) -> str:
    """What a message says: its text, or (posted as the bot, without a webhook) its embed's."""
    embeds = message.get("embeds") or []
    return str(message["content"] or (embeds[0].get("description", "") if embeds else ""))


async def outbox_depth(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(OutboxPost)) or 0)


def sends(twin: DiscordTwin, channel: int) -> list[Any]:
    return [r for r in twin.requests if r.method == "POST" and r.path == f"/channels/{channel}/messages"]


def clocked(settings: Settings, clock: FakeClock, poll_s: float) -> ClockedBot:
    return ClockedBot(settings.model_copy(update={"outbox_poll_s": poll_s}), clock)


async def test_a_question_discord_refused_is_posted_from_the_outbox_once_and_before_what_follows(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    twin.deny_bot_permission(channel, "manage_webhooks")  # posts as the bot, which discord.py does not retry on 503
    async with run_client(twin, clocked(settings, clock, 0.1)):
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "seconds": 30}, subcommand="start"
        )
        await start.wait_for_answers(1)
        await twin.wait_until(lambda: any(r.status == 503 for r in twin.requests), 5, what="the refused question")
        asked = await question(engine)
        clock.advance(10)  # the first hint is due while the question waits in the outbox
        await twin.wait_for_messages(channel, 2, timeout=10)
        await asyncio.sleep(0.5)  # more passes of the outbox: nothing more is posted
    texts = [said(m) for m in twin.messages[channel]]
    assert len(texts) == 2, texts
    assert asked["q"] in texts[0] and asked["q"] not in texts[1] and "`" in texts[1], "the question, then the hint"
    assert [r.status for r in sends(twin, channel)] == [503, 200, 200]
    refused, posted = sends(twin, channel)[:2]
    assert refused.json["nonce"] and posted.json["nonce"] == refused.json["nonce"], "the question keeps its nonce"
    assert await outbox_depth(engine) == 0


async def test_a_reveal_discord_refused_is_posted_from_the_outbox_once_and_in_order(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_client(twin, clocked(settings, clock, 0.1)):
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "seconds": 30, "mode": "choice"}, subcommand="start"
        )
        await start.wait_for_answers(1)
        [asked] = await twin.wait_for_messages(channel, 1)
        first = await question(engine)
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        clock.advance(30)  # time is up: the answer is revealed, and Discord refuses it
        await twin.wait_until(lambda: any(r.status == 503 for r in twin.requests), 5, what="the refused reveal")
        await twin.wait_for_messages(channel, 2, timeout=10)  # the outbox's loop posts it
        clock.advance(4)
        await twin.wait_for_messages(channel, 3, timeout=10)
        second = await question(engine)
        await asyncio.sleep(0.5)
    texts = [said(m) for m in twin.messages[channel]]
    assert len(texts) == 3, texts
    assert first["q"] in texts[0] and first["a"][0] in texts[1] and second["q"] in texts[2]
    assert len([m for m in twin.messages[channel] if m.get("components")]) == 2, "each question has its buttons once"
    assert asked["components"] and [r.status for r in sends(twin, channel)] == [200, 503, 200, 200]
    assert await outbox_depth(engine) == 0


async def test_an_announcement_a_stop_cut_off_is_posted_once_after_the_restart(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_client(twin, clocked(settings, clock, 60)):
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "seconds": 30}, subcommand="start"
        )
        await start.wait_for_answers(1)
        await twin.wait_until(lambda: any(r.status == 503 for r in twin.requests), 5, what="the refused question")
        asked = await question(engine)
    assert twin.messages.get(channel, []) == []
    assert await outbox_depth(engine) == 1, "the question waits in the outbox across the stop"
    async with run_client(twin, clocked(settings, clock, 0.1)):
        await twin.wait_for_messages(channel, 2, timeout=10)  # the question, then the same question resumed
        await asyncio.sleep(2.5)  # past the outbox's grace: its loop finds nothing more to post
    texts = [said(m) for m in twin.messages[channel]]
    assert len(texts) == 2 and all(asked["q"] in text for text in texts), texts
    assert "(30 s)" in texts[0] and "(30 s)" not in texts[1], "the stored question once, then the resumed one"
    assert await outbox_depth(engine) == 0


async def test_a_command_while_the_channel_waits_for_a_refused_reveal_is_posted_after_it(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    twin.deny_bot_permission(channel, "manage_webhooks")
    async with run_client(twin, clocked(settings, clock, 60)):  # the outbox's loop stays out of it
        start = await twin.send_slash_command(
            channel, alice, "trivia", {"questions": 2, "seconds": 30}, subcommand="start"
        )
        await start.wait_for_answers(1)
        await twin.wait_for_messages(channel, 1)
        first = await question(engine)
        twin.fail_next(1, status=503, path_contains=f"/channels/{channel}/messages", method="POST")
        clock.advance(30)
        await twin.wait_until(lambda: any(r.status == 503 for r in twin.requests), 5, what="the refused reveal")
        skip = await twin.send_slash_command(channel, alice, "trivia", subcommand="skip")
        [done] = await skip.wait_for_answers(1)
        await twin.wait_for_messages(channel, 3, timeout=10)
        second = await question(engine)
    texts = [said(m) for m in twin.messages[channel]]
    assert len(texts) == 3 and first["q"] in texts[0] and first["a"][0] in texts[1] and second["q"] in texts[2]
    assert done["ephemeral"] is True, "the next question is not the command's answer: it comes after the reveal"
    assert await outbox_depth(engine) == 0
