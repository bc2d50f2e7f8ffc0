"""/forget-me deletes every feature's data in one transaction, and a request stored before a stop is finished after."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import text

from bot.app import App, build_app
from bot.config import Settings
from bot.console.chat import ConsoleChat

USER = "local:ann"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/privacy.db")


async def play_everything(app: App) -> None:
    """Chat, a multiple-choice trivia question and a story scene, as the console user ann."""
    script = iter(["", "who is dyson?", "/trivia choice 1", "A", "/story list", "1", "ann", "fighter", "1", "/end"])

    async def read_line(prompt: str) -> str:
        line = next(script, None)
        if line is None:
            raise EOFError
        return line

    await ConsoleChat(app, Console(file=io.StringIO(), color_system=None), read_line, USER).run()


def stored(data: dict[str, Any]) -> dict[str, int]:
    return {
        "conversations": len(data["conversations"]),
        "trivia scores": len(data["trivia"]["scores"]),
        "trivia answers": len(data["trivia"]["choices"]),
        "story sessions": len(data["story"]["sessions"]),
    }


async def pending_requests(app: App) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM forget_requests")) or 0)


async def test_a_failure_half_way_deletes_nothing_and_the_request_is_finished_at_the_next_start(
    settings: Settings,
) -> None:
    app = await build_app(settings)
    try:
        await play_everything(app)
        before = stored(await app.export_user(USER))
        assert all(before.values()), before
        async with app.sessions.begin() as session:  # the story's part of the deletion fails in the database
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_story BEFORE UPDATE ON story_players "
                    "BEGIN SELECT RAISE(ABORT, 'the disk refuses'); END"
                )
            )
        await app.request_forget(USER)
        with pytest.raises(Exception, match="the disk refuses"):
            await app.forget_user(USER)
        assert stored(await app.export_user(USER)) == before, "chat and trivia were deleted without the story"
        assert await pending_requests(app) == 1
        async with app.sessions.begin() as session:
            await session.execute(text("DROP TRIGGER refuse_story"))
    finally:
        await app.close()

    again = await build_app(settings)  # the next start finishes what was asked for
    try:
        assert stored(await again.export_user(USER)) == dict.fromkeys(before, 0)
        assert await pending_requests(again) == 0
    finally:
        await again.close()


async def test_asking_twice_deletes_once_and_leaves_no_request(settings: Settings) -> None:
    app = await build_app(settings)
    try:
        await play_everything(app)
        await app.request_forget(USER)
        await app.request_forget(USER)
        assert await pending_requests(app) == 1
        assert await app.forget_user(USER) > 0
        assert await app.forget_user(USER) == 0
        assert await pending_requests(app) == 0
        assert not any(stored(await app.export_user(USER)).values())
    finally:
        await app.close()
