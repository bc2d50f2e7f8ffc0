"""``python -m bot trivia judge|play``: the judge as JSON, and a solo game in the terminal (no discord imports)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
from typing import Any

from bot.config import Settings

__all__ = ["CONSOLE_CHANNEL", "add_arguments", "run"]

CONSOLE_CHANNEL = 0
"""The channel id of the terminal's game (Discord ids are never 0)."""
_MARKUP = re.compile(r"[*`]")


def add_arguments(commands: Any) -> None:
    """Add the ``trivia`` command and its ``judge`` and ``play`` subcommands to the command line."""
    trivia = commands.add_parser("trivia", help="judge an answer, or play trivia in this terminal")
    actions = trivia.add_subparsers(dest="trivia_command", required=True)
    judge = actions.add_parser("judge", help='judge a guess; prints {"correct": ..., "matched": ...} as JSON')
    judge.add_argument("--answers", required=True, help='accepted answers separated by "|", canonical first')
    judge.add_argument("guess", help="the guess to judge")
    play = actions.add_parser("play", help="a solo game against the same service the Discord bot uses")
    play.add_argument("--questions", type=int, default=5, help="how many questions (default 5)")
    play.add_argument("--mode", choices=("open", "choice"), default="open", help="type answers, or pick A-D")
    play.add_argument("--seconds", type=int, default=30, help="seconds per question (default 30)")
    play.add_argument("--host", choices=("john", "sarah", "t800"), default="t800", help="who asks (default t800)")
    play.add_argument("--seed", type=int, default=None, help="pick the same questions every time")
    play.add_argument("--user", default="local", help="your name on the leaderboard")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``trivia judge`` or ``trivia play``; returns the exit code."""
    if args.trivia_command == "judge":
        from bot.trivia.judge import judge

        answers = [answer.strip() for answer in args.answers.split("|") if answer.strip()]
        verdict = judge(args.guess, answers)
        print(json.dumps({**verdict.to_json(), "guess": args.guess, "answers": answers}, ensure_ascii=False))
        return 0
    return asyncio.run(_play(settings, args))


def _show(text: str) -> None:
    print(_MARKUP.sub("", text), flush=True)


def _read_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _play(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.trivia.options import GameOptions, TriviaError
    from bot.trivia.questions import CHOICE_LETTERS

    app = await build_app(settings)
    service = app.trivia
    user = f"local:{args.user}"
    try:
        await service.resume()
        if service.game_in(CONSOLE_CHANNEL) is not None:
            await service.stop(CONSOLE_CHANNEL, user, moderator=True)  # a game left over from a killed terminal
        options = GameOptions(questions=args.questions, mode=args.mode, seconds=args.seconds, host=args.host)
        try:
            announcements = await service.start(CONSOLE_CHANNEL, None, user, options, seed=args.seed)
        except TriviaError as exc:
            print(f"t2-companion: {exc}", file=sys.stderr)
            return 2
        how = "Type A, B, C or D." if args.mode == "choice" else "Type your answers."
        _show(f"{how} /skip skips a question, /quit ends the game.")
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=_read_lines, args=(asyncio.get_running_loop(), queue), daemon=True).start()
        question = 0
        while True:
            for announcement in announcements:
                _show(announcement.text)
                if announcement.question is not None:
                    question = announcement.question
            game = service.game_in(CONSOLE_CHANNEL)
            if game is None:
                break
            try:
                line = await asyncio.wait_for(queue.get(), timeout=0.25)
            except TimeoutError:
                announcements = await service.tick()
                continue
            if line is None or line.lower() in ("/quit", "/stop"):
                announcements = await service.stop(CONSOLE_CHANNEL, user, moderator=True)
            elif line.lower() == "/skip":
                announcements = await service.skip(CONSOLE_CHANNEL, user, moderator=True)
            elif args.mode == "choice":
                letter = line[:1].upper()
                if letter not in CHOICE_LETTERS:
                    _show("Type A, B, C or D.")
                    announcements = []
                    continue
                result = await service.choose(game, question, CHOICE_LETTERS.index(letter), user, args.user)
                _show(result.text)
                announcements = result.announcements
            elif line:
                announcements = await service.answer(CONSOLE_CHANNEL, user, args.user, line) or [*await service.tick()]
                if not announcements:
                    _show("No.")
            else:
                announcements = []
    finally:
        await app.close()
    return 0
