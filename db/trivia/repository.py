"""The queries trivia needs: games and their state, choice answers, lists, settings, forgetting a user.

What it reads back is plain frozen dataclasses (``GameRow``, ``ChoiceRow``, ``ListRow``, ``SettingsRow``), never
ORM objects: the service changes stored state only through these methods. Scores, stats and boards are
``db.trivia.stats``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.common import StorageError, check_versions, insert_for, storable
from db.models import utcnow
from db.trivia.models import TriviaChoice, TriviaGame, TriviaGuildSettings, TriviaList, TriviaScore, TriviaStats

__all__ = ["ChoiceRow", "GameRow", "GameRunningError", "ListRow", "SettingsRow", "Standing", "TriviaRepository"]


class GameRunningError(StorageError):
    """The channel already has a running game."""


@dataclass(frozen=True, slots=True)
class Standing:
    """A player's place in one game."""

    user: str
    name: str
    points: int
    correct: int


@dataclass(frozen=True, slots=True)
class GameRow:
    """A stored game: where it runs, its options, its questions and where it stands (times in epoch ms)."""

    id: int
    guild_id: int | None
    channel_id: int
    starter: str | None
    solo: bool
    host: str
    mode: str
    seconds: int
    target_score: int | None
    idle_s: int
    questions: list[dict[str, Any]]
    question_index: int
    phase: str
    asked_at_ms: int
    deadline_ms: int
    hints: int
    last_activity_ms: int
    paused_at_ms: int | None
    """Set while a clean shutdown has the game paused."""
    version: int = 0
    """How many changes of the running game were stored: a change is written only on the version it was made from."""


@dataclass(frozen=True, slots=True)
class ChoiceRow:
    """A player's one answer to a multiple-choice question."""

    user: str
    choice: int
    correct: bool
    points: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class ListRow:
    """A list imported into a guild, with its questions as parsed."""

    name: str
    author: str | None
    description: str | None
    config: dict[str, Any]
    questions: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SettingsRow:
    """A guild's stored trivia defaults (None: the built-in default)."""

    questions: int | None
    target_score: int | None
    seconds: int | None
    mode: str | None
    host: str | None
    lists: list[str] | None


def _game(row: TriviaGame) -> GameRow:
    return GameRow(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        starter=row.starter,
        solo=row.solo,
        host=row.host,
        mode=row.mode,
        seconds=row.seconds,
        target_score=row.target_score,
        idle_s=row.idle_s,
        questions=list(row.questions),
        question_index=row.question_index,
        phase=row.phase,
        asked_at_ms=row.asked_at_ms,
        deadline_ms=row.deadline_ms,
        hints=row.hints,
        last_activity_ms=row.last_activity_ms,
        paused_at_ms=row.paused_at_ms,
        version=row.version,
    )


class TriviaRepository:
    """Trivia storage on the session it is given; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # games -------------------------------------------------------------------------------------------------

    async def create_game(self, values: Mapping[str, Any]) -> GameRow:
        """Store a new running game; GameRunningError when its channel already has one."""
        game = TriviaGame(**values, created_at=utcnow())
        self.session.add(game)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise GameRunningError("a game is already running in this channel") from exc
        return _game(game)

    async def started_by(self, request: str) -> bool:
        """Whether a game (running or over) was started by ``request``."""
        query = select(TriviaGame.id).where(TriviaGame.start_request == request).limit(1)
        return await self.session.scalar(query) is not None

    async def running_games(self) -> list[GameRow]:
        """Every running game, as stored now."""
        rows = await self.session.scalars(select(TriviaGame).where(TriviaGame.status == "running"))
        return [_game(row) for row in rows]

    async def recent_games(self, channel_id: int, limit: int) -> list[tuple[list[dict[str, Any]], int]]:
        """The questions and last asked index of the channel's latest ``limit`` games, newest first."""
        query = (
            select(TriviaGame.questions, TriviaGame.question_index)
            .where(TriviaGame.channel_id == channel_id)
            .order_by(TriviaGame.id.desc())
            .limit(limit)
        )
        return [(list(questions), index) for questions, index in (await self.session.execute(query)).all()]

    async def running_game(self, game_id: int) -> GameRow | None:
        """A game as stored now, if it is still running."""
        row = await self.session.scalar(
            select(TriviaGame)
            .where(TriviaGame.id == game_id, TriviaGame.status == "running")
            .execution_options(populate_existing=True)
        )
        return None if row is None else _game(row)

    async def check_versions(self, read: Mapping[int, int]) -> None:
        """Raise StaleWrite unless every game (id -> version) is still at the version it was read at."""
        await check_versions(self.session, TriviaGame.id, TriviaGame.version, read, "trivia game")

    async def update_game(self, game_id: int, *, version: int | None = None, **values: Any) -> None:
        """Change a game's stored state; with ``version`` (the version it was read at), only if no other change
        was stored since (else StaleWrite), and the version moves on by one."""
        if version is not None:
            await self.check_versions({game_id: version})
            values["version"] = version + 1
        await self.session.execute(update(TriviaGame).where(TriviaGame.id == game_id).values(**values))

    async def update_games(
        self, changes: Sequence[tuple[int, Mapping[str, Any]]], versions: Mapping[int, int] | None = None
    ) -> None:
        """Change the stored state of many games (id, values), as if one after another; one statement per column set.

        ``versions`` (game id -> the version its change was made from): those games are checked (StaleWrite) and
        their version moves on by one, changed values or not."""
        merged: dict[int, dict[str, Any]] = {}
        if versions:
            await self.check_versions(versions)
            for game_id, version in versions.items():
                merged[game_id] = {"version": version + 1}
        for game_id, values in changes:
            merged.setdefault(game_id, {}).update(values)
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for game_id, values in merged.items():
            if values:
                by_columns.setdefault(tuple(sorted(values)), []).append({"id": game_id, **values})
        for rows in by_columns.values():
            await self.session.execute(update(TriviaGame), rows)

    async def finish_game(self, game_id: int, reason: str, guild_key: int, award_wins: bool) -> list[Standing]:
        """End a game: free its channel, count it for every player and the win for the top scorers."""
        await self.update_game(game_id, status="finished", active_channel=None, end_reason=reason, finished_at=utcnow())
        standings = await self.standings(game_id)
        players = [standing.user for standing in standings]
        if players:
            stats = TriviaStats.__table__
            await self.session.execute(
                update(TriviaStats)
                .where(TriviaStats.user.in_(players), TriviaStats.guild_id == guild_key)
                .values(games=stats.c.games + 1, updated_at=utcnow())
            )
            top = standings[0].points
            winners = [s.user for s in standings if s.points == top] if award_wins and top > 0 else []
            if winners:
                await self.session.execute(
                    update(TriviaStats)
                    .where(TriviaStats.user.in_(winners), TriviaStats.guild_id == guild_key)
                    .values(wins=stats.c.wins + 1)
                )
        return standings

    async def standings(self, game_id: int) -> list[Standing]:
        """The players of a game, best first."""
        query = (
            select(TriviaScore.user, TriviaScore.name, TriviaScore.points, TriviaScore.correct)
            .where(TriviaScore.game_id == game_id)
            .order_by(TriviaScore.points.desc(), TriviaScore.correct.desc(), TriviaScore.name)
        )
        return [Standing(*row) for row in (await self.session.execute(query)).all()]

    async def record_choice(
        self, game_id: int, question_index: int, user: str, choice: int, correct: bool, points: int, at_ms: int
    ) -> bool:
        """Store a player's one answer to a multiple-choice question; False when they already answered it."""
        table = TriviaChoice.__table__
        statement = insert_for(self.session, table).values(
            game_id=game_id,
            question_index=question_index,
            user=user,
            choice=choice,
            correct=correct,
            points=points,
            at_ms=at_ms,
        )
        result = await self.session.execute(
            statement.on_conflict_do_nothing(index_elements=["game_id", "question_index", "user"])
        )
        return bool(getattr(result, "rowcount", 0))

    async def choices(self, game_id: int, question_index: int) -> list[ChoiceRow]:
        """The answers given to one multiple-choice question, fastest first."""
        choice = TriviaChoice
        query = (
            select(choice.user, choice.choice, choice.correct, choice.points, choice.at_ms)
            .where(TriviaChoice.game_id == game_id, TriviaChoice.question_index == question_index)
            .order_by(TriviaChoice.at_ms)
        )
        return [ChoiceRow(*row) for row in (await self.session.execute(query)).all()]

    async def players(self, game_id: int) -> dict[str, str]:
        """Everyone who has played in a game: user -> name."""
        rows = await self.session.execute(
            select(TriviaScore.user, TriviaScore.name).where(TriviaScore.game_id == game_id)
        )
        return {user: name for user, name in rows.all()}

    async def points(self, game_id: int) -> dict[str, int]:
        """Everyone's points in a game so far: user -> points."""
        rows = await self.session.execute(
            select(TriviaScore.user, TriviaScore.points).where(TriviaScore.game_id == game_id)
        )
        return {user: points for user, points in rows.all()}

    # lists and settings --------------------------------------------------------------------------------------

    async def save_list(self, guild_key: int, name: str, values: Mapping[str, Any]) -> bool:
        """Store (or replace) a guild's imported list; True when it replaced one."""
        name = storable(name)
        values = {key: storable(value) if isinstance(value, str) else value for key, value in values.items()}
        existing = await self.session.scalar(
            select(TriviaList).where(TriviaList.guild_id == guild_key, TriviaList.name == name)
        )
        if existing is not None:
            for key, value in values.items():
                setattr(existing, key, value)
            existing.created_at = utcnow()
            return True
        self.session.add(TriviaList(guild_id=guild_key, name=name, created_at=utcnow(), **values))
        return False

    async def lists(self, guild_key: int) -> list[ListRow]:
        """A guild's imported lists, by name."""
        query = (
            select(TriviaList.name, TriviaList.author, TriviaList.description, TriviaList.config, TriviaList.questions)
            .where(TriviaList.guild_id == guild_key)
            .order_by(TriviaList.name)
        )
        return [ListRow(*row) for row in (await self.session.execute(query)).all()]

    async def settings(self, guild_key: int) -> SettingsRow | None:
        """A guild's stored defaults, if any."""
        row = await self.session.get(TriviaGuildSettings, guild_key, populate_existing=True)
        if row is None:
            return None
        return SettingsRow(row.questions, row.target_score, row.seconds, row.mode, row.host, row.lists)

    async def save_settings(self, guild_key: int, values: Mapping[str, Any]) -> None:
        """Store a guild's defaults (only the keys given change)."""
        row = await self.session.get(TriviaGuildSettings, guild_key)
        if row is None:
            self.session.add(TriviaGuildSettings(guild_id=guild_key, updated_at=utcnow(), **values))
            return
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = utcnow()

    # privacy -------------------------------------------------------------------------------------------------

    async def export(self, user: str) -> dict[str, Any]:
        """Everything trivia stores about ``user``, JSON-ready: scores per game, answers, stats, lists uploaded."""
        scores = await self.session.execute(
            select(TriviaScore, TriviaGame)
            .join(TriviaGame, TriviaGame.id == TriviaScore.game_id)
            .where(TriviaScore.user == user)
            .order_by(TriviaScore.game_id)
        )
        choices = await self.session.scalars(
            select(TriviaChoice)
            .where(TriviaChoice.user == user)
            .order_by(TriviaChoice.game_id, TriviaChoice.question_index)
        )
        stats = await self.session.scalars(
            select(TriviaStats).where(TriviaStats.user == user).order_by(TriviaStats.guild_id)
        )
        lists = await self.session.scalars(
            select(TriviaList).where(TriviaList.uploaded_by == user).order_by(TriviaList.id)
        )
        started = await self.session.scalars(
            select(TriviaGame.id).where(TriviaGame.starter == user).order_by(TriviaGame.id)
        )
        return {
            "scores": [
                {
                    "game": game.id,
                    "guild": game.guild_id,
                    "channel": game.channel_id,
                    "played_at": game.created_at.isoformat(),
                    "name": score.name,
                    "points": score.points,
                    "correct": score.correct,
                    "attempted": score.attempted,
                }
                for score, game in scores.all()
            ],
            "choices": [
                {
                    "game": choice.game_id,
                    "question": choice.question_index + 1,
                    "choice": choice.choice,
                    "correct": choice.correct,
                    "points": choice.points,
                }
                for choice in choices
            ],
            "stats": [
                {
                    "guild": row.guild_id,
                    "name": row.name,
                    "points": row.points,
                    "correct": row.correct,
                    "attempted": row.attempted,
                    "games": row.games,
                    "wins": row.wins,
                    "best_streak": row.best_streak,
                }
                for row in stats
            ],
            "lists_uploaded": [{"guild": row.guild_id, "name": row.name} for row in lists],
            "games_started": list(started),
        }

    async def forget(self, user: str) -> int:
        """Delete a user's scores, answers and stats, and unlink them from games and lists; rows removed."""
        removed = 0
        for model in (TriviaStats, TriviaScore, TriviaChoice):
            result = await self.session.execute(delete(model).where(model.user == user))
            removed += int(getattr(result, "rowcount", 0) or 0)
        await self.session.execute(update(TriviaGame).where(TriviaGame.starter == user).values(starter=None))
        await self.session.execute(update(TriviaList).where(TriviaList.uploaded_by == user).values(uploaded_by=None))
        return removed
