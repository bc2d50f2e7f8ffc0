"""Trivia's storage: its tables (``models``), games, lists and settings (``repository``), scores and boards
(``stats``)."""

from db.trivia.repository import (
    ChoiceRow,
    GameRow,
    GameRunningError,
    ListRow,
    SettingsRow,
    Standing,
    TriviaRepository,
)
from db.trivia.stats import BOARD_METRICS, BoardRow, PlayerStats, Scoring, TriviaStatsRepository

__all__ = [
    "BOARD_METRICS",
    "BoardRow",
    "ChoiceRow",
    "GameRow",
    "GameRunningError",
    "ListRow",
    "PlayerStats",
    "Scoring",
    "SettingsRow",
    "Standing",
    "TriviaRepository",
    "TriviaStatsRepository",
]
