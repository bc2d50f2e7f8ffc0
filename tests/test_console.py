"""The console front end ends cleanly on Ctrl-D and Ctrl-C, a game it saved goes on at the next start, and /card checks
a character card."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select

from bot.app import build_app
from bot.config import Settings
from bot.console.chat import run_console
from db.trivia.models import TriviaGame

ROOT = Path(__file__).resolve().parent.parent


def scripted(lines: Iterable[str]):  # type: ignore[no-untyped-def]
    """A ``read_line`` that types ``lines``, then Ctrl-D (EOFError)."""
    script = iter(lines)

    async def read_line(prompt: str) -> str:
        line = next(script, None)
        if line is None:
            raise EOFError
        return line

    return read_line


async def console_run(settings: Settings, lines: Iterable[str]) -> str:
    out = io.StringIO()
    await run_console(
        settings, user="ann", read_line=scripted(lines), console=Console(file=out, width=200, color_system=None)
    )
    return out.getvalue()


async def stored_games(settings: Settings) -> list[TriviaGame]:
    app = await build_app(settings)
    try:
        async with app.sessions() as session:
            return list((await session.scalars(select(TriviaGame))).all())
    finally:
        await app.close()


async def test_ctrl_d_in_a_trivia_game_saves_it_and_the_next_start_goes_on(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/console.db")
    first = await console_run(settings, ["", "/trivia open 2"])
    assert "1 of 2" in first
    assert "Your game is saved" in first
    [game] = await stored_games(settings)
    assert game.status == "running" and game.paused_at_ms is not None

    second = await console_run(settings, ["", "/trivia", "/quit", "/quit"])
    assert "Your trivia game is paused. /trivia goes on with it." in second
    going_on = second.split("Going on with your saved game.", 1)[1]
    assert "1 of 2" in going_on, "the saved question is asked again, not a new game"
    assert "Your game is saved" not in second, "a game stopped with /quit is not saved"
    [game] = await stored_games(settings)
    assert game.status != "running"


def read_until(stream: io.TextIOBase, seen: list[str], marker: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if marker in "".join(seen):
            return True
        time.sleep(0.05)
    return marker in "".join(seen)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is how a terminal sends Ctrl-C on POSIX")
def test_ctrl_c_ends_the_console_at_once_and_saves_the_game(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DISCORD_TOKEN", "LOG_LEVEL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/console.db"
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: process.stdout.read(1), "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        process.stdin.write("\n/trivia open 2\n")
        process.stdin.flush()
        assert read_until(process.stdout, seen, "1 of 2", 60), "".join(seen)
        process.send_signal(signal.SIGINT)  # stdin stays open: nothing more is ever typed
        returncode = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    assert returncode == 130
    assert "Your game is saved" in "".join(seen)
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")

    again = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="\n/trivia\n/quit\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "Going on with your saved game." in again.stdout


async def test_card_checks_a_card_file_as_a_server_import_would(tmp_path: Path) -> None:
    from tests.test_guild_cards import dyson_card, restyle_card

    good, bad = tmp_path / "dyson.json", tmp_path / "kyle.json"
    good.write_text(json.dumps(dyson_card()), encoding="utf-8")
    bad.write_text(json.dumps(restyle_card("kyle")), encoding="utf-8")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/console.db")
    out = await console_run(settings, ["", f"/card {good}", f"/card {bad}", f"/card {tmp_path}/missing.png"])
    assert "Miles Dyson: a valid card; on a Discord server it adds the character Miles Dyson (dyson)" in out
    assert "knowing what John Connor knows by scene 5" in out
    assert "data.extensions.t2-companion.persona: unknown persona 'kyle'" in out
    assert "missing.png: No such file or directory" in out
