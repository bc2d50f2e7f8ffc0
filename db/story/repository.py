"""The queries the story service needs: sessions, players and transcript events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from db.common import StorageError, check_versions, storable
from db.models import utcnow
from db.story.models import StoryEvent, StoryPlayer, StorySession

__all__ = [
    "FORMER_PLAYER",
    "EventRow",
    "PlayerRow",
    "ScopeTakenError",
    "SessionRow",
    "StoryRepository",
]

FORMER_PLAYER = "a former player"
"""The name a player who asked to be forgotten has in every transcript."""

_EVENTS = cast(Table, StoryEvent.__table__)
_SESSIONS = cast(Table, StorySession.__table__)
_PLAYERS = cast(Table, StoryPlayer.__table__)


class ScopeTakenError(StorageError):
    """Another session is already running in this place."""


@dataclass(slots=True)
class PlayerRow:
    """A player as stored."""

    id: int
    user: str | None
    name: str
    role: str
    seat: int
    active: bool


@dataclass(slots=True)
class SessionRow:
    """A session's stored fields (everything but its players and events)."""

    id: int
    scope: str
    guild_id: int | None
    host: str | None
    turn_order: str
    vote_seconds: int
    turn_seconds: int
    status: str
    paused: bool
    phase: str
    scene: int
    actor_id: int | None
    turn_index: int
    skips: int
    deadline_ms: int | None
    remaining_ms: int | None
    last_activity_ms: int
    state: dict[str, Any]
    event_seq: int
    players: list[PlayerRow] = field(default_factory=list)
    version: int = 0
    """The stored version this row was read at (or last written as)."""
    created_at: datetime = field(default_factory=utcnow)
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One transcript line to store or as stored."""

    seq: int
    scene: int
    kind: str
    text: str
    at_ms: int
    player_id: int | None = None
    persona: str | None = None
    option: str | None = None
    fact_ids: tuple[str, ...] = ()


_SESSION_FIELDS = (
    "host",
    "turn_order",
    "vote_seconds",
    "turn_seconds",
    "status",
    "paused",
    "phase",
    "scene",
    "actor_id",
    "turn_index",
    "skips",
    "deadline_ms",
    "remaining_ms",
    "last_activity_ms",
    "state",
    "event_seq",
    "ended_at",
)


class StoryRepository:
    """Story sessions in the database; takes the session (unit of work) it is given."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create_session(self, row: SessionRow) -> int:
        """Insert a new running session; ScopeTakenError when its place already has one."""
        values = {name: getattr(row, name) for name in _SESSION_FIELDS}
        record = StorySession(
            scope=row.scope, active_scope=row.scope, guild_id=row.guild_id, created_at=row.created_at, **values
        )
        self.session.add(record)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise ScopeTakenError(f"a story is already running in {row.scope}") from exc
        return record.id

    async def save_many(
        self, sessions: Sequence[SessionRow], players: Sequence[PlayerRow], events: Sequence[tuple[int, EventRow]]
    ) -> None:
        """Store the changes of many sessions with one statement per table (group commit)."""
        if sessions:
            await self._check_fresh(sessions)
            table = _SESSIONS
            values: dict[str, Any] = {
                name: bindparam(f"v_{name}", type_=table.c[name].type) for name in (*_SESSION_FIELDS, "active_scope")
            }
            await self.session.execute(
                update(table)
                .where(table.c.id == bindparam("v_id"), table.c.version == bindparam("v_read"))
                .values(**values, version=bindparam("v_version")),
                [
                    {
                        "v_id": row.id,
                        "v_read": row.version,
                        "v_version": row.version + 1,
                        "v_active_scope": None if row.status == "ended" else row.scope,
                        **{f"v_{name}": getattr(row, name) for name in _SESSION_FIELDS},
                    }
                    for row in sessions
                ],
            )
        if players:
            table = _PLAYERS
            await self.session.execute(
                update(table)
                .where(table.c.id == bindparam("p_id"))
                .values(
                    user=bindparam("p_user"),
                    name=bindparam("p_name"),
                    role=bindparam("p_role"),
                    active=bindparam("p_active"),
                ),
                [
                    {"p_id": p.id, "p_user": p.user, "p_name": p.name, "p_role": p.role, "p_active": p.active}
                    for p in players
                ],
            )
        if events:
            rows = [self._event_values(session_id, event) for session_id, event in events]
            await self.session.execute(_EVENTS.insert(), rows)

    async def _check_fresh(self, sessions: Sequence[SessionRow]) -> None:
        """Raise StaleWrite when a session is no longer at the version it was read at (another process changed it)."""
        read = {row.id: row.version for row in sessions}
        await check_versions(self.session, StorySession.id, StorySession.version, read, "story session")

    @staticmethod
    def _event_values(session_id: int, event: EventRow) -> dict[str, Any]:
        return {
            "session_id": session_id,
            "seq": event.seq,
            "scene": event.scene,
            "kind": event.kind,
            "player_id": event.player_id,
            "persona": event.persona,
            "option": event.option,
            "text": storable(event.text),
            "fact_ids": list(event.fact_ids),
            "at_ms": event.at_ms,
        }

    async def add_players(self, players: Sequence[tuple[int, PlayerRow]]) -> list[int]:
        """Insert (session id, player) pairs with one statement; returns their ids in order."""
        if not players:
            return []
        now = utcnow()
        rows = [
            {
                "session_id": session_id,
                "user": p.user,
                "name": p.name,
                "role": p.role,
                "seat": p.seat,
                "active": p.active,
                "joined_at": now,
            }
            for session_id, p in players
        ]
        statement = insert(StoryPlayer).returning(StoryPlayer.id, sort_by_parameter_order=True)
        return [int(player_id) for player_id in (await self.session.scalars(statement, rows)).all()]

    async def add_events(self, session_id: int, events: Sequence[EventRow]) -> None:
        """Append transcript lines."""
        if not events:
            return
        await self.session.execute(_EVENTS.insert(), [self._event_values(session_id, event) for event in events])

    async def live_sessions(self) -> list[SessionRow]:
        """Every session that has not ended, with its players."""
        records = (await self.session.scalars(select(StorySession).where(StorySession.active_scope.is_not(None)))).all()
        return await self._with_players(list(records))

    async def latest_in_scope(self, scope: str) -> SessionRow | None:
        """The newest session of a place, running or ended."""
        record = await self.session.scalar(
            select(StorySession).where(StorySession.scope == scope).order_by(StorySession.id.desc()).limit(1)
        )
        return None if record is None else (await self._with_players([record]))[0]

    async def events(self, session_id: int) -> list[EventRow]:
        """A session's transcript, in order."""
        records = await self.session.scalars(
            select(StoryEvent).where(StoryEvent.session_id == session_id).order_by(StoryEvent.seq)
        )
        return [
            EventRow(r.seq, r.scene, r.kind, r.text, r.at_ms, r.player_id, r.persona, r.option, tuple(r.fact_ids or ()))
            for r in records
        ]

    async def export(self, user: str) -> dict[str, Any]:
        """Every story session ``user`` played or hosted, with their seat and their own turns, JSON-ready."""
        played = await self.session.execute(
            select(StoryPlayer, StorySession)
            .join(StorySession, StorySession.id == StoryPlayer.session_id)
            .where(StoryPlayer.user == user)
            .order_by(StoryPlayer.session_id)
        )
        hosted = await self.session.scalars(
            select(StorySession.id).where(StorySession.host == user).order_by(StorySession.id)
        )
        sessions = []
        for player, story in played.all():
            turns = await self.session.scalars(
                select(StoryEvent)
                .where(StoryEvent.session_id == story.id, StoryEvent.player_id == player.id)
                .order_by(StoryEvent.seq)
            )
            sessions.append(
                {
                    "session": story.id,
                    "place": story.scope,
                    "status": story.status,
                    "started_at": story.created_at.isoformat(),
                    "name": player.name,
                    "role": player.role,
                    "still_playing": player.active,
                    "joined_at": player.joined_at.isoformat(),
                    "turns": [
                        {"scene": event.scene, "kind": event.kind, "option": event.option, "text": event.text}
                        for event in turns
                    ],
                }
            )
        return {"sessions": sessions, "hosted": list(hosted)}

    async def forget(self, user: str) -> int:
        """Anonymise ``user`` in every session (players and hosts); returns the player rows changed."""
        found = await self.session.scalar(select(func.count(StoryPlayer.id)).where(StoryPlayer.user == user))
        await self.session.execute(
            update(StoryPlayer).where(StoryPlayer.user == user).values(user=None, name=FORMER_PLAYER, active=False)
        )
        await self.session.execute(update(StorySession).where(StorySession.host == user).values(host=None))
        return int(found or 0)

    async def _with_players(self, records: list[StorySession]) -> list[SessionRow]:
        if not records:
            return []
        ids = [record.id for record in records]
        players: dict[int, list[PlayerRow]] = {session_id: [] for session_id in ids}
        try:
            found = await self.session.scalars(
                select(StoryPlayer).where(StoryPlayer.session_id.in_(ids)).order_by(StoryPlayer.seat)
            )
        except SQLAlchemyError as exc:
            raise StorageError(f"could not read story players: {type(exc).__name__}") from exc
        for p in found:
            players[p.session_id].append(PlayerRow(p.id, p.user, p.name, p.role, p.seat, p.active))
        return [
            SessionRow(
                id=r.id,
                scope=r.scope,
                guild_id=r.guild_id,
                host=r.host,
                turn_order=r.turn_order,
                vote_seconds=r.vote_seconds,
                turn_seconds=r.turn_seconds,
                status=r.status,
                paused=r.paused,
                phase=r.phase,
                scene=r.scene,
                actor_id=r.actor_id,
                turn_index=r.turn_index,
                skips=r.skips,
                deadline_ms=r.deadline_ms,
                remaining_ms=r.remaining_ms,
                last_activity_ms=r.last_activity_ms,
                state=dict(r.state or {}),
                event_seq=r.event_seq,
                players=players[r.id],
                version=r.version,
                created_at=r.created_at,
                ended_at=r.ended_at,
            )
            for r in records
        ]
