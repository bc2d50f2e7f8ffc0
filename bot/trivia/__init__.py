"""Trivia about the plot: answer judging, the game service, Red list import, the host's lines; no discord imports."""

from bot.trivia.judge import Verdict, judge
from bot.trivia.options import Announcement, GameOptions, NotAllowedError, TriviaError
from bot.trivia.red_lists import RedListError, parse_red_list
from bot.trivia.service import TriviaService

__all__ = [
    "Announcement",
    "GameOptions",
    "NotAllowedError",
    "RedListError",
    "TriviaError",
    "TriviaService",
    "Verdict",
    "judge",
    "parse_red_list",
]
