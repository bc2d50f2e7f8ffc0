"""The clocks of play: turns and votes that run out, idle sessions paused and resumed, clocks kept over a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.story.change import LOBBY, PLAYING, Change
from bot.story.model import StoryConfig, Tick
from bot.story.rules import Rules
from bot.story.store import SessionStore
from bot.story.turns import active_players
from db.story.repository import SessionRow

__all__ = ["Clocks", "pause"]

log = logging.getLogger(__name__)

_RESUME_HINT = "Press one of its buttons or use /story status to resume."


def pause(change: Change, why: str) -> None:
    """Pause the session, keeping what is left of its clock."""
    row = change.row
    row.paused = True
    if row.deadline_ms is not None:
        row.remaining_ms = max(0, row.deadline_ms - change.now_ms)
    row.deadline_ms = None
    change.event("pause", why)
    change.post(f"{why} The story is paused. {_RESUME_HINT}")


class Clocks:
    """Deadlines of turns and votes, idle pauses, and stopping and restarting every clock around a restart."""

    def __init__(self, store: SessionStore, rules: Rules, config: StoryConfig, now_ms: Callable[[], int]) -> None:
        self._store = store
        self._rules = rules
        self._config = config
        self._now_ms = now_ms

    def resume(self, change: Change) -> str:
        """Resume a paused session (any button or /story status does); returns a note for the reply."""
        row = change.row
        if not row.paused:
            return ""
        row.paused = False
        row.last_activity_ms = change.now_ms
        change.event("resume", "resumed")
        remaining = row.remaining_ms or 0
        row.remaining_ms = None
        if row.status == PLAYING:
            row.skips = 0
            if row.turn_order == "vote" and row.phase == "deciding" and remaining >= 5000:
                row.deadline_ms = change.now_ms + remaining
                change.post(f"The story resumes. The vote goes on: {remaining // 1000} s left.")
            else:
                change.post("The story resumes.")
                if row.phase == "tiebreak":
                    row.deadline_ms = change.now_ms + row.vote_seconds * 1000
                else:
                    self._rules.arm(change, self._rules.story.scene(row.scene))
        else:
            change.post("The lobby is open again.")
        return " The story resumes."

    def expire(self, change: Change, *, by_host: bool) -> None:
        """The current turn, vote or tie-break is over without an answer."""
        row = change.row
        scene = self._rules.story.scene(row.scene)
        if row.phase == "tiebreak":
            tied: list[str] = row.state.get("tied") or [scene.decision.options[0].id]
            self._rules.decide(change, tied[0], None, "The tie was not broken in time. ")
            return
        if row.turn_order == "vote":
            if not row.state["votes"] and not by_host:
                pause(change, "Nobody voted.")
                return
            self._rules.close_vote(change, by="The host closed the vote. " if by_host else "Time is up. ")
            return
        players = active_players(row)
        skipped = next((p for p in players if p.id == row.actor_id), None)
        name = skipped.name if skipped is not None else "The current player"
        change.event("skip", "host" if by_host else "idle", player_id=row.actor_id)
        row.skips += 1
        if row.turn_order == "list":
            row.turn_index += 1
        if not by_host and row.skips >= len(players):
            change.post(f"{name} took too long and is skipped.")
            pause(change, "Nobody has decided.")
            return
        change.post(f"{name} {'is skipped by the host' if by_host else 'took too long and is skipped'}.")
        self._rules.arm(change, scene)

    async def tick(self) -> list[Tick]:
        """Expire turns and votes whose time is up and pause idle sessions; returns what to announce."""
        store = self._store
        await store.load()
        now = self._now_ms()
        pause_ms = self._config.pause_seconds * 1000
        due = [
            row.id
            for row in store.rows()
            if not row.paused
            and (
                (row.deadline_ms is not None and row.deadline_ms <= now)
                or (now - row.last_activity_ms >= pause_ms and (row.status == LOBBY or row.deadline_ms is not None))
            )
        ]
        ticks: list[Tick] = []
        for session_id in due:
            async with store.lock(session_id):
                if not store.is_live(session_id):
                    continue
                row = store.copy(session_id)
                if row.paused:
                    continue
                change = Change(row, now)
                if now - row.last_activity_ms >= pause_ms:
                    pause(change, "Nobody has played for a while.")
                elif row.deadline_ms is not None and row.deadline_ms <= now and row.status == PLAYING:
                    self.expire(change, by_host=False)
                else:
                    continue
                try:
                    await store.commit(change)
                except Exception:
                    log.exception("could not store the timeout of story session %s", session_id)
                    continue
            ticks.append(Tick(row.id, row.scope, tuple(change.posts), change.outbox_key))
        return ticks

    async def suspend(self) -> int:
        """Before a shutdown: stop every running clock, keeping each vote's and turn's remaining time."""

        def stop(row: SessionRow, now: int) -> bool:
            if row.deadline_ms is None or row.paused:
                return False
            row.remaining_ms = max(0, row.deadline_ms - now)
            row.deadline_ms = None
            return True

        return await self._each(stop)

    async def restart_clocks(self) -> int:
        """After a start: run again the clocks ``suspend`` stopped, with the time they had left."""

        def start(row: SessionRow, now: int) -> bool:
            if row.paused or row.deadline_ms is not None or row.remaining_ms is None or row.status != PLAYING:
                return False
            row.deadline_ms = now + row.remaining_ms
            row.remaining_ms = None
            return True

        return await self._each(start)

    async def _each(self, update: Callable[[SessionRow, int], bool]) -> int:
        """Apply ``update`` to a copy of every running session, storing those it changed; returns how many."""
        await self._store.load()
        now = self._now_ms()
        changed = 0
        for row in self._store.rows():
            async with self._store.lock(row.id):
                copied = self._store.copy(row.id)
                if not update(copied, now):
                    continue
                await self._store.commit(Change(copied, now))
                changed += 1
        return changed
