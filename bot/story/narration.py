"""What is told about a session: its status and whose turn it is, the recap, the export, spoiler-safe chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.story.change import LOBBY, PLAYING, Change
from bot.story.clocks import Clocks
from bot.story.model import ChatContext, Outcome, Post, StoryRefusal, Turn
from bot.story.rules import Rules
from bot.story.store import SessionStore
from bot.story.telling import player_label, recap
from bot.story.turns import active_players, host_of, name_of, played_personas, told_role
from db.story.repository import SessionRow
from personas.factbase import PERSONA_IDS
from personas.understanding.address import split_addressee

__all__ = ["Narrator"]


class Narrator:
    """Answers about sessions: where they are, what happened, and who may answer a free question."""

    def __init__(
        self,
        store: SessionStore,
        rules: Rules,
        clocks: Clocks,
        now_ms: Callable[[], int],
        default_persona: Callable[[str], Awaitable[str]] | None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._clocks = clocks
        self._now_ms = now_ms
        self._default_persona = default_persona

    def describe(self, row: SessionRow, now_ms: int) -> str:
        """A few lines on the session's state."""
        players = ", ".join(player_label(p) for p in active_players(row)) or "nobody"
        host = host_of(row)
        hosting = host.name if host else "the host (not playing)" if row.host else "none"
        lines = [f"Turn order: {row.turn_order}. Players: {players}. Host: {hosting}."]
        if row.status == LOBBY:
            lines.insert(0, "The lobby is open; the host starts the story.")
            return "\n".join(lines)
        story = self._rules.story
        scene = story.scene(row.scene)
        lines.insert(0, f"Scene {row.scene} of {len(story.scenes)}: {scene.title}.")
        left = f", {max(0, (row.deadline_ms - now_ms) // 1000)} s left" if row.deadline_ms else ""
        if row.phase == "tiebreak":
            lines.append(f"Waiting for the host to break a tie{left}.")
        elif row.turn_order == "vote":
            lines.append(f"Votes: {len(row.state['votes'])} of {len(active_players(row))}{left}.")
        else:
            lines.append(f"Waiting for {name_of(row, row.actor_id)}{left}.")
        return "\n".join(lines)

    async def status(self, scope: str) -> Outcome:
        """Where the story is, who plays, whose turn; resumes a paused session."""
        store = self._store
        session_id = await store.session_id(scope)
        async with store.lock(session_id):
            row = store.copy(session_id)
            change = Change(row, self._now_ms())
            resumed = self._clocks.resume(change)
            if resumed:
                await store.commit(change)
        return Outcome(
            row.id, row.scope, self.describe(row, change.now_ms), tuple(change.posts), outbox_key=change.outbox_key
        )

    async def whose_turn(self, session_id: int) -> Turn | None:
        """Whose call it is in a running session (list and natural order); None in vote order or when over."""
        await self._store.load()
        if not self._store.is_live(session_id):
            return None
        row = self._store.copy(session_id)
        actor = next((p for p in row.players if p.id == row.actor_id), None)
        if row.status != PLAYING or actor is None:
            return None
        offered = self._rules.story.scene(row.scene).decision.options_for(told_role(row, row.scene))
        return Turn(row.scene, actor.user, actor.name, tuple(option.id for option in offered))

    async def recap(self, scope: str) -> Outcome:
        """A persona nobody plays retells the session so far, from its stored transcript."""
        row = await self._store.session_in(scope)
        if row is None or row.status != PLAYING:
            raise StoryRefusal("There is no story under way here.")
        events = await self._store.events(row.id)
        rules = self._rules
        told = row.state.get("told", {})
        persona, text, fact_ids = recap(
            rules.story, rules.base, events, row.players, row.scene, played_personas(row), told
        )
        return Outcome(row.id, row.scope, "Here is the story so far.", (Post(text, persona, "Recap", None, fact_ids),))

    async def transcript(self, scope: str) -> dict[str, Any]:
        """The newest session of this place (running or ended) as JSON-ready data."""
        latest = await self._store.latest(scope)
        if latest is None:
            raise StoryRefusal("No story has been played here yet.")
        found, events = latest
        names = {p.id: p for p in found.players}
        return {
            "session": found.id,
            "status": found.status,
            "turn_order": found.turn_order,
            "scene": found.scene,
            "flags": found.state.get("flags", {}),
            "players": [{"name": p.name, "role": p.role, "active": p.active} for p in found.players],
            "events": [
                {
                    "seq": e.seq,
                    "scene": e.scene,
                    "kind": e.kind,
                    "player": names[e.player_id].name if e.player_id is not None and e.player_id in names else None,
                    "persona": e.persona,
                    "option": e.option,
                    "text": e.text,
                    "fact_ids": list(e.fact_ids),
                }
                for e in events
            ],
        }

    async def chat_context(self, scope: str, text: str, persona: str | None, user: str) -> ChatContext | None:
        """How to answer a free question here: spoiler-safe at the session's scene, never as a played persona."""
        row = await self._store.session_in(scope)
        if row is None:
            return None
        at_scene = max(row.scene, 1)
        played = {p.role for p in active_players(row)}
        addressed, rest = split_addressee(text)
        wanted = addressed or persona
        if wanted is None and self._default_persona is not None:
            wanted = await self._default_persona(user)
        wanted = wanted or "john"
        if wanted not in played:
            return ChatContext(at_scene, wanted, text)
        free = [candidate for candidate in PERSONA_IDS if candidate not in played]
        if not free:
            notice = "John, Sarah and the T-800 are all played by people in this story. Ask them!"
            return ChatContext(at_scene, None, rest, notice)
        return ChatContext(at_scene, free[0], rest if addressed else text)
