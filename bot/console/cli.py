"""``python -m bot trivia judge|play``: the judge as JSON, and a solo game in the terminal (no discord imports)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.config import Settings
from bot.console.input import run_interactive

__all__ = ["add_arguments", "run"]


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
    play.add_argument(
        "--seed",
        type=int,
        default=None,
        help="fix the random order of the questions (those asked here lately still come last)",
    )
    play.add_argument("--user", default=argparse.SUPPRESS, help="your name on the leaderboard (default: local)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``trivia judge`` or ``trivia play``; returns the exit code."""
    if args.trivia_command == "judge":
        from bot.trivia.judge import judge

        answers = [answer.strip() for answer in args.answers.split("|") if answer.strip()]
        verdict = judge(args.guess, answers)
        print(json.dumps({**verdict.to_json(), "guess": args.guess, "answers": answers}, ensure_ascii=False))
        return 0
    return run_interactive(_play(settings, args))


async def _play(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from bot.app import build_app
    from bot.console.input import LineReader, read_terminal_line
    from bot.console.trivia import TriviaConsole
    from bot.trivia.options import GameOptions

    app = await build_app(settings)
    try:
        options = GameOptions(questions=args.questions, mode=args.mode, seconds=args.seconds, host=args.host)
        game = TriviaConsole(app, Console(highlight=False), LineReader(read_terminal_line), args.user)
        return 0 if await game.play(options, seed=args.seed) else 2
    except EOFError:  # Ctrl-D: the game is saved below and goes on at the next start
        return 0
    finally:
        if await app.suspend_games():
            print("Your game is saved; it goes on where it was at the next start.")
        await app.close()
