"""The queries trivia needs: games and their state, scores, choice answers, stats, boards, lists, settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import utcnow
from db.repositories import StorageError
from db.trivia_models import TriviaChoice, TriviaGame, TriviaGuildSettings, TriviaList, TriviaScore, TriviaStats

__all__ = [
    "BOARD_METRICS",
    "BoardRow",
    "GameRunningError",
    "PlayerStats",
    "Standing",
    "TriviaRepository",
]

BOARD_METRICS = ("points", "wins", "games", "accuracy")
MIN_ATTEMPTS_FOR_ACCURACY = 5


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
class BoardRow:
    """One line of a leaderboard."""

    user: str
    name: str
    points: int
    wins: int
    games: int
    correct: int
    attempted: int

    @property
    def accuracy(self) -> float:
        """Questions answered right out of those attempted (0 when none)."""
        return self.correct / self.attempted if self.attempted else 0.0


@dataclass(frozen=True, slots=True)
class PlayerStats:
    """A player's figures in one guild, or summed over all guilds."""

    board: BoardRow
    streak: int
    best_streak: int
    rank: int | None


def _board_row(row: Any) -> BoardRow:
    return BoardRow(
        row.user,
        row.name,
        int(row.points or 0),
        int(row.wins or 0),
        int(row.games or 0),
        int(row.correct or 0),
        int(row.attempted or 0),
    )


def _insert(session: AsyncSession, table: Any) -> sqlite.Insert | postgresql.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class TriviaRepository:
    """Trivia storage on the session it is given; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # games -------------------------------------------------------------------------------------------------

    async def create_game(self, values: Mapping[str, Any]) -> TriviaGame:
        """Store a new running game; GameRunningError when its channel already has one."""
        game = TriviaGame(**values, created_at=utcnow())
        self.session.add(game)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise GameRunningError("a game is already running in this channel") from exc
        return game

    async def running_games(self) -> list[TriviaGame]:
        """Every running game, as stored now."""
        return list((await self.session.scalars(select(TriviaGame).where(TriviaGame.status == "running"))).all())

    async def game(self, game_id: int) -> TriviaGame | None:
        """One game, as stored now."""
        return await self.session.get(TriviaGame, game_id, populate_existing=True)

    async def update_game(self, game_id: int, **values: Any) -> None:
        """Change a game's stored state."""
        await self.session.execute(update(TriviaGame).where(TriviaGame.id == game_id).values(**values))

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

    async def standings(self, game_id: int, limit: int | None = None) -> list[Standing]:
        """The players of a game, best first."""
        query = (
            select(TriviaScore.user, TriviaScore.name, TriviaScore.points, TriviaScore.correct)
            .where(TriviaScore.game_id == game_id)
            .order_by(TriviaScore.points.desc(), TriviaScore.correct.desc(), TriviaScore.name)
        )
        if limit is not None:
            query = query.limit(limit)
        return [Standing(*row) for row in (await self.session.execute(query)).all()]

    async def top_points(self, game_id: int) -> int:
        """The best score in a game so far."""
        return int(
            await self.session.scalar(select(func.max(TriviaScore.points)).where(TriviaScore.game_id == game_id)) or 0
        )

    # scores and stats ----------------------------------------------------------------------------------------

    async def score(
        self, game_id: int, guild_key: int, players: Mapping[str, str], *, winner: str | None = None, points: int = 0
    ) -> None:
        """Count one attempted question for each of ``players`` (user -> name); ``winner`` also scores ``points``.

        The winner's answer streak grows, everyone else's resets.
        """
        if not players:
            return
        now = utcnow()
        scores = TriviaScore.__table__
        stats = TriviaStats.__table__
        assert isinstance(scores, Table) and isinstance(stats, Table)
        score_rows = []
        stat_rows = []
        for user, name in players.items():
            won = user == winner
            gained = points if won else 0
            score_rows.append(
                {"game_id": game_id, "user": user, "name": name, "points": gained, "correct": int(won), "attempted": 1}
            )
            stat_rows.append(
                {
                    "user": user,
                    "guild_id": guild_key,
                    "name": name,
                    "points": gained,
                    "correct": int(won),
                    "attempted": 1,
                    "games": 0,
                    "wins": 0,
                    "streak": int(won),
                    "best_streak": int(won),
                    "updated_at": now,
                }
            )
        insert_scores = _insert(self.session, scores)
        excluded = insert_scores.excluded
        await self.session.execute(
            insert_scores.on_conflict_do_update(
                index_elements=[scores.c.game_id, scores.c.user],
                set_={
                    "name": excluded.name,
                    "points": scores.c.points + excluded.points,
                    "correct": scores.c.correct + excluded.correct,
                    "attempted": scores.c.attempted + 1,
                },
            ),
            score_rows,
        )
        insert_stats = _insert(self.session, stats)
        new = insert_stats.excluded
        grown = stats.c.streak + 1
        await self.session.execute(
            insert_stats.on_conflict_do_update(
                index_elements=[stats.c.user, stats.c.guild_id],
                set_={
                    "name": new.name,
                    "points": stats.c.points + new.points,
                    "correct": stats.c.correct + new.correct,
                    "attempted": stats.c.attempted + 1,
                    "streak": case((new.correct > 0, grown), else_=0),
                    "best_streak": case(
                        ((new.correct > 0) & (grown > stats.c.best_streak), grown), else_=stats.c.best_streak
                    ),
                    "updated_at": new.updated_at,
                },
            ),
            stat_rows,
        )

    async def record_choice(
        self, game_id: int, question_index: int, user: str, choice: int, correct: bool, points: int, at_ms: int
    ) -> bool:
        """Store a player's one answer to a multiple-choice question; False when they already answered it."""
        table = TriviaChoice.__table__
        statement = _insert(self.session, table).values(
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

    async def choices(self, game_id: int, question_index: int) -> list[TriviaChoice]:
        """The answers given to one multiple-choice question, fastest first."""
        query = (
            select(TriviaChoice)
            .where(TriviaChoice.game_id == game_id, TriviaChoice.question_index == question_index)
            .order_by(TriviaChoice.at_ms)
        )
        return list((await self.session.scalars(query)).all())

    async def players(self, game_id: int) -> dict[str, str]:
        """Everyone who has played in a game: user -> name."""
        rows = await self.session.execute(
            select(TriviaScore.user, TriviaScore.name).where(TriviaScore.game_id == game_id)
        )
        return {user: name for user, name in rows.all()}

    # boards --------------------------------------------------------------------------------------------------

    def _board_query(self, guild_key: int | None) -> Any:
        columns = (
            TriviaStats.user,
            func.max(TriviaStats.name).label("name"),
            func.sum(TriviaStats.points).label("points"),
            func.sum(TriviaStats.wins).label("wins"),
            func.sum(TriviaStats.games).label("games"),
            func.sum(TriviaStats.correct).label("correct"),
            func.sum(TriviaStats.attempted).label("attempted"),
        )
        query = select(*columns).group_by(TriviaStats.user)
        if guild_key is not None:
            query = query.where(TriviaStats.guild_id == guild_key)
        return query

    async def leaderboard(self, guild_key: int | None, metric: str = "points", limit: int = 10) -> list[BoardRow]:
        """The best players of a guild (None: everywhere) by points, wins, games played or accuracy."""
        if metric not in BOARD_METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(BOARD_METRICS)}")
        board = self._board_query(guild_key).subquery()
        if metric == "accuracy":
            order: list[Any] = [
                (board.c.correct * 1.0 / board.c.attempted).desc(),
                board.c.attempted.desc(),
            ]
            query = select(board).where(board.c.attempted >= MIN_ATTEMPTS_FOR_ACCURACY)
        else:
            order = [board.c[metric].desc(), board.c.points.desc()]
            query = select(board).where(board.c[metric] > 0)
        rows = await self.session.execute(query.order_by(*order, board.c.name).limit(limit))
        return [_board_row(row) for row in rows.all()]

    async def player_stats(self, user: str, guild_key: int | None) -> PlayerStats | None:
        """A player's figures in a guild (None: everywhere), with their rank by points."""
        board = self._board_query(guild_key).subquery()
        row = (await self.session.execute(select(board).where(board.c.user == user))).first()
        if row is None:
            return None
        streaks = select(func.max(TriviaStats.best_streak), func.sum(TriviaStats.streak)).where(
            TriviaStats.user == user
        )
        if guild_key is not None:
            streaks = streaks.where(TriviaStats.guild_id == guild_key)
        best, current = (await self.session.execute(streaks)).one()
        if guild_key is None:
            latest = select(TriviaStats.streak).where(TriviaStats.user == user).order_by(TriviaStats.updated_at.desc())
            current = int(await self.session.scalar(latest.limit(1)) or 0)
        ahead = await self.session.scalar(select(func.count()).select_from(board).where(board.c.points > row.points))
        stats = _board_row(row)
        return PlayerStats(stats, int(current or 0), int(best or 0), int(ahead or 0) + 1)

    # lists and settings --------------------------------------------------------------------------------------

    async def save_list(self, guild_key: int, name: str, values: Mapping[str, Any]) -> bool:
        """Store (or replace) a guild's imported list; True when it replaced one."""
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

    async def lists(self, guild_key: int) -> list[TriviaList]:
        """A guild's imported lists, by name."""
        query = select(TriviaList).where(TriviaList.guild_id == guild_key).order_by(TriviaList.name)
        return list((await self.session.scalars(query)).all())

    async def settings(self, guild_key: int) -> TriviaGuildSettings | None:
        """A guild's stored defaults, if any."""
        return await self.session.get(TriviaGuildSettings, guild_key, populate_existing=True)

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

    async def forget(self, user: str) -> int:
        """Delete a user's scores, answers and stats, and unlink them from games and lists; rows removed."""
        removed = 0
        for model in (TriviaStats, TriviaScore, TriviaChoice):
            result = await self.session.execute(delete(model).where(model.user == user))
            removed += int(getattr(result, "rowcount", 0) or 0)
        await self.session.execute(update(TriviaGame).where(TriviaGame.starter == user).values(starter=None))
        await self.session.execute(update(TriviaList).where(TriviaList.uploaded_by == user).values(uploaded_by=None))
        return removed
