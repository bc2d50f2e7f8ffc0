"""StoryService: group story sessions (lobby, roles, turn order, votes, pauses, recap, epilogue); no discord here.

Every change is committed (one transaction, shared with concurrent changes of other sessions) before the
service returns what to announce. Running sessions are also kept in memory, written through, so a choice costs
one write and no read; after a restart they are read back and go on at the same point.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.story.model import TURN_ORDERS, ChatContext, Outcome, Post, Prompt, StoryConfig, StoryRefusal, Tick
from bot.story.telling import (
    clean_name,
    epilogue,
    player_label,
    recap,
    role_label,
    scene_opening,
    spoken_lines,
)
from bot.story.turns import active_players, pick_actor, tally
from db.batching import Batcher
from db.models import utcnow
from db.story_repository import FORMER_PLAYER, EventRow, PlayerRow, ScopeTakenError, SessionRow, StoryRepository
from personas.addressing import split_addressee
from personas.factbase import PERSONA_IDS, FactBase
from personas.roster import PERSONAS
from personas.story import ROLES, Story, StoryScene

__all__ = ["Clock", "StoryService"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds since the epoch, as ``time.time``; injected so tests and benchmarks control time."""
_NEW_PLAYER = -1
_Op = Callable[[StoryRepository], Awaitable[Any]]
"""A write that needs more than the group commit's three statements (creating a session, a first join ...)."""
LOBBY, PLAYING, ENDED = "lobby", "playing", "ended"
_RESUME_HINT = "Press one of its buttons or use /story status to resume."


@dataclass(frozen=True, slots=True)
class _Write:
    """A session's new state with its changed players and new transcript lines, stored in a group commit."""

    row: SessionRow
    players: tuple[PlayerRow, ...]
    events: tuple[EventRow, ...]
    new_player: PlayerRow | None = None
    """A player joining for the first time: inserted, given its id, which events marked _NEW_PLAYER get."""


def _plain(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, strings, numbers): much cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _with_player(event: EventRow, player: PlayerRow | None) -> EventRow:
    """The event with the id of the player who just joined, where it is marked _NEW_PLAYER."""
    if player is None or event.player_id != _NEW_PLAYER:
        return event
    return EventRow(event.seq, event.scene, event.kind, event.text, event.at_ms, player.id, event.persona, event.option)


def _clone(row: SessionRow) -> SessionRow:
    """A copy of a session that a change can edit without touching the stored one."""
    clone = copy.copy(row)
    clone.players = [copy.copy(player) for player in row.players]
    clone.state = _plain(row.state)
    return clone


class _Change:
    """One change being built on a copy of a session: transcript events and public posts."""

    def __init__(self, row: SessionRow, now_ms: int) -> None:
        self.row = row
        self.now_ms = now_ms
        self.events: list[EventRow] = []
        self.posts: list[Post] = []
        self.players: list[PlayerRow] = []

    def event(
        self,
        kind: str,
        text: str,
        *,
        player_id: int | None = None,
        persona: str | None = None,
        option: str | None = None,
        fact_ids: tuple[str, ...] = (),
    ) -> None:
        self.row.event_seq += 1
        self.events.append(
            EventRow(self.row.event_seq, self.row.scene, kind, text, self.now_ms, player_id, persona, option, fact_ids)
        )

    def say(self, kind: str, text: str, *, persona: str | None = None, title: str | None = None, **extra: Any) -> None:
        """Store a transcript line that needs no names, and post it."""
        fact_ids: tuple[str, ...] = extra.get("fact_ids", ())
        self.event(kind, text, persona=persona, fact_ids=fact_ids)
        self.posts.append(Post(text, persona, title, None, fact_ids))

    def post(self, text: str, prompt: Prompt | None = None) -> None:
        self.posts.append(Post(text, None, None, prompt))


class StoryService:
    """Group story sessions, one per place (scope), persisted on every change."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock,
        story: Story,
        base: FactBase,
        *,
        clock: Clock = time.time,
        config: StoryConfig | None = None,
        default_persona: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.clock = clock
        self.story = story
        self.base = base
        self.config = config or StoryConfig()
        self._sessions = sessions
        self._write_lock = write_lock
        self._default_persona = default_persona
        self._writes: Batcher[_Op | _Write, Any] = Batcher(self._run_ops, name="story-writer")
        self._live: dict[int, SessionRow] = {}
        self._by_scope: dict[str, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._scope_locks: dict[str, asyncio.Lock] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()

    # ------------------------------------------------------------------ plumbing
    def now_ms(self) -> int:
        """The injected clock, in milliseconds."""
        return int(self.clock() * 1000)

    async def _run_ops(self, ops: Sequence[_Op | _Write]) -> list[Any]:
        """One transaction for a batch: special writes one by one, then every session change in bulk."""
        writes = [op for op in ops if isinstance(op, _Write)]
        async with self._write_lock, self._sessions.begin() as session:
            repo = StoryRepository(session)
            results = [None if isinstance(op, _Write) else await op(repo) for op in ops]
            joining = [write for write in writes if write.new_player is not None]
            ids = await repo.add_players([(write.row.id, write.new_player) for write in joining if write.new_player])
            for write, player_id in zip(joining, ids, strict=True):
                assert write.new_player is not None
                write.new_player.id = player_id
            await repo.save_many(
                [write.row for write in writes],
                [player for write in writes for player in write.players],
                [(write.row.id, _with_player(event, write.new_player)) for write in writes for event in write.events],
            )
        return results

    async def load(self) -> None:
        """Read every running session into memory (once); later calls do nothing."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            async with self._sessions() as session:
                rows = await StoryRepository(session).live_sessions()
            for row in rows:
                self._remember(row)
            self._loaded = True

    def _remember(self, row: SessionRow) -> None:
        if row.status == ENDED:
            self._live.pop(row.id, None)
            if self._by_scope.get(row.scope) == row.id:
                del self._by_scope[row.scope]
            self._locks.pop(row.id, None)
            return
        self._live[row.id] = row
        self._by_scope[row.scope] = row.id

    async def _commit(self, change: _Change) -> None:
        await self._writes.submit(_Write(change.row, tuple(change.players), tuple(change.events)))
        self._remember(change.row)

    async def close(self) -> None:
        """Finish pending writes."""
        await self._writes.close()

    def _lock(self, session_id: int) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def session_id(self, scope: str) -> int:
        """The id of the running session of this place; StoryRefusal when there is none."""
        await self.load()
        session_id = self._by_scope.get(scope)
        if session_id is None:
            raise StoryRefusal("There is no story session here. Start one with /story start.")
        return session_id

    def _copy(self, session_id: int) -> SessionRow:
        row = self._live.get(session_id)
        if row is None:
            raise StoryRefusal("That story session is over.")
        return _clone(row)

    # ------------------------------------------------------------------ queries
    async def session_in(self, scope: str) -> SessionRow | None:
        """A copy of the running session of this place, if any."""
        await self.load()
        session_id = self._by_scope.get(scope)
        return None if session_id is None else _clone(self._live[session_id])

    async def scene_in(self, scope: str) -> int | None:
        """The scene the session of this place is at (1 in the lobby), or None without a running session."""
        row = await self.session_in(scope)
        return None if row is None else max(row.scene, 1)

    async def chat_context(self, scope: str, text: str, persona: str | None, user: str) -> ChatContext | None:
        """How to answer a free question here: spoiler-safe at the session's scene, never as a played persona."""
        row = await self.session_in(scope)
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

    def _played(self, row: SessionRow) -> set[str]:
        return {player.role for player in active_players(row) if player.role in PERSONA_IDS}

    @staticmethod
    def _player(row: SessionRow, user: str) -> PlayerRow | None:
        return next((player for player in row.players if player.user == user), None)

    def _active_player(self, row: SessionRow, user: str) -> PlayerRow:
        player = self._player(row, user)
        if player is None or not player.active:
            raise StoryRefusal("You are not playing in this story. Join it from its lobby with /story join.")
        return player

    def _name_of(self, row: SessionRow, player_id: int | None) -> str:
        found = next((player for player in row.players if player.id == player_id), None)
        return found.name if found is not None else "someone"

    @staticmethod
    def _can_run(row: SessionRow, user: str, can_moderate: bool) -> bool:
        return can_moderate or (row.host is not None and row.host == user)

    # ------------------------------------------------------------------ lobby
    def lobby_post(self, row: SessionRow) -> Post:
        """The lobby message: settings, who plays what, and the join buttons."""
        players = active_players(row)
        roster = "\n".join(f"- {player_label(p)}" for p in players) or "- nobody yet"
        taken = {p.role for p in players}
        free = [PERSONAS[r].display_name for r in PERSONA_IDS if r not in taken]
        text = (
            f"A story of Terminator 2 is about to begin. Turn order: {row.turn_order}"
            + (f", {row.vote_seconds} s per vote" if row.turn_order == "vote" else "")
            + f". Players ({len(players)}/{self.config.max_players}):\n{roster}\n"
            + f"Free roles: {', '.join([*free, 'resistance fighter'])}. The host starts when ready."
        )
        options = (*((r, f"Join as {PERSONAS[r].display_name}") for r in PERSONA_IDS), ("fighter", "Join as fighter"))
        prompt = Prompt(row.id, 0, "lobby", (*options, ("leave", "Leave"), ("start", "Start")))
        return Post(text, None, "Story lobby", prompt)

    async def open_lobby(
        self,
        scope: str,
        host: str,
        *,
        turn_order: str = "vote",
        vote_seconds: int | None = None,
        guild_id: int | None = None,
    ) -> Outcome:
        """Open a lobby in ``scope`` hosted by ``host``; refused when the place already has a session."""
        if turn_order not in TURN_ORDERS:
            raise StoryRefusal(f"Turn order must be one of {', '.join(TURN_ORDERS)}.")
        seconds = vote_seconds or self.config.default_vote_seconds
        if not 10 <= seconds <= 3600:
            raise StoryRefusal("Votes last between 10 and 3600 seconds.")
        await self.load()
        lock = self._scope_locks.setdefault(scope, asyncio.Lock())
        async with lock:
            if scope in self._by_scope:
                raise StoryRefusal("A story is already running here. Use /story status, or /story end first.")
            now = self.now_ms()
            row = SessionRow(
                id=0,
                scope=scope,
                guild_id=guild_id,
                host=host,
                turn_order=turn_order,
                vote_seconds=seconds,
                turn_seconds=self.config.turn_seconds,
                status=LOBBY,
                paused=False,
                phase="",
                scene=0,
                actor_id=None,
                turn_index=0,
                skips=0,
                deadline_ms=None,
                remaining_ms=None,
                last_activity_ms=now,
                state={"flags": self.story.initial_flags(), "votes": {}, "picks": {}},
                event_seq=1,
            )

            async def op(repo: StoryRepository) -> int:
                session_id = await repo.create_session(row)
                await repo.add_events(session_id, [EventRow(1, 0, "lobby", f"turn order {turn_order}", now)])
                return session_id

            try:
                row.id = await self._writes.submit(op)
            except ScopeTakenError:
                raise StoryRefusal("A story is already running here.") from None
            self._remember(row)
        lobby = self.lobby_post(row)
        return Outcome(row.id, scope, "The lobby is open.", (lobby,), lobby)

    async def join(self, session_id: int, user: str, name: str, role: str, fighter_name: str | None = None) -> Outcome:
        """Join (or change role) as John, Sarah, the T-800 or a resistance fighter named ``fighter_name``."""
        if role not in ROLES:
            raise StoryRefusal(f"Choose a role among {', '.join(ROLES)}.")
        await self.load()
        async with self._lock(session_id):
            row = self._copy(session_id)
            now = self.now_ms()
            change = _Change(row, now)
            resumed = self._resume(change)
            players = active_players(row)
            holder = next((p for p in players if p.role == role and role != "fighter"), None)
            me = self._player(row, user)
            if holder is not None and holder.user != user:
                raise StoryRefusal(f"{role_label(holder)} is already played by {holder.name}.")
            if (me is None or not me.active) and len(players) >= self.config.max_players:
                raise StoryRefusal(f"This story is full ({self.config.max_players} players).")
            shown = clean_name(fighter_name or name) if role == "fighter" else clean_name(name)
            row.last_activity_ms = now
            if me is None:
                seat = max((p.seat for p in row.players), default=0) + 1
                player = PlayerRow(0, user, shown, role, seat, True)  # its id is set when it is stored
                change.event("join", role, player_id=_NEW_PLAYER)
                await self._writes.submit(_Write(row, (), tuple(change.events), player))
                row.players.append(player)
                self._remember(row)
            else:
                me.role, me.name, me.active = role, shown, True
                change.players.append(me)
                change.event("join", role, player_id=me.id)
                player = me
                await self._commit(change)
        text = f"{player.name} joins as {role_label(player)}."
        posts = (*change.posts, Post(text))
        lobby = self.lobby_post(row) if row.status == LOBBY else None
        return Outcome(row.id, row.scope, f"You play {role_label(player)}." + resumed, posts, lobby)

    async def begin(self, session_id: int, user: str, *, can_moderate: bool = False) -> Outcome:
        """The host starts the story: scene 1 is told and its decision opened."""
        await self.load()
        async with self._lock(session_id):
            row = self._copy(session_id)
            if not self._can_run(row, user, can_moderate):
                raise StoryRefusal("Only the host (or someone with Manage Messages) can start the story.")
            if row.status != LOBBY:
                raise StoryRefusal("The story has already begun.")
            if not active_players(row):
                raise StoryRefusal("At least one player must join first.")
            change = _Change(row, self.now_ms())
            row.paused, row.remaining_ms = False, None
            row.status = PLAYING
            row.scene = 1
            change.event("start", "the story begins")
            self._open_scene(change)
            await self._commit(change)
        return Outcome(row.id, row.scope, "The story begins.", tuple(change.posts), self.lobby_closed(row))

    def lobby_closed(self, row: SessionRow) -> Post:
        """The lobby message once the story has begun: the cast, no buttons."""
        roster = ", ".join(player_label(p) for p in active_players(row))
        return Post(f"The story has begun. Playing: {roster}.", None, "Story lobby")

    # ------------------------------------------------------------------ scenes
    def _open_scene(self, change: _Change) -> None:
        row = change.row
        scene = self.story.scene(row.scene)
        flags: dict[str, str] = row.state["flags"]
        change.say("narration", scene_opening(scene, flags), title=f"Scene {scene.number}: {scene.title}")
        for spoken in spoken_lines(self.base, scene.lines, self._played(row), f"{row.id}|{row.scene}"):
            change.say("line", spoken.text, persona=spoken.persona, fact_ids=(spoken.fact_id,))
        row.phase = "deciding"
        row.skips = 0
        row.state["votes"] = {}
        self._arm(change, scene)

    def _arm(self, change: _Change, scene: StoryScene) -> None:
        """Set who acts and until when, and post the decision with its buttons."""
        row = change.row
        options = tuple((option.id, option.label) for option in scene.decision.options)
        if row.turn_order == "vote":
            row.actor_id = None
            row.deadline_ms = change.now_ms + row.vote_seconds * 1000
            prompt = Prompt(row.id, row.scene, "vote", options)
            voters = len(active_players(row))
            text = f"{scene.decision.prompt}\nEveryone votes ({voters} voters, {row.vote_seconds} s)."
            change.post(text + " The majority wins; the host breaks ties.", prompt)
            return
        actor = pick_actor(row, scene)
        row.actor_id = actor.id if actor is not None else None
        row.deadline_ms = change.now_ms + row.turn_seconds * 1000
        prompt = Prompt(row.id, row.scene, "choose", options)
        who = actor.name if actor is not None else "someone"
        change.post(f"{scene.decision.prompt}\n{who}, it is your call ({row.turn_seconds} s).", prompt)

    def _decide(self, change: _Change, option_id: str, decider: PlayerRow | None, how: str) -> None:
        """Apply a decision: flags, outcome, the lines after it, then the next scene or the epilogue."""
        row = change.row
        scene = self.story.scene(row.scene)
        option = scene.decision.option(option_id)
        row.state["flags"].update(option.sets)
        if decider is not None:
            change.event("choice", option.label, player_id=decider.id, option=option.id)
            row.state["picks"].setdefault(str(decider.id), {})[str(row.scene)] = option.id
        change.event("decision", how, player_id=decider.id if decider else None, option=option.id)
        who = decider.name if decider is not None else "The group"
        change.post(f"{how}{who} chose: {option.label}.")
        change.say("narration", option.outcome)
        for spoken in spoken_lines(self.base, scene.after, self._played(row), f"{row.id}|{row.scene}|after"):
            change.say("line", spoken.text, persona=spoken.persona, fact_ids=(spoken.fact_id,))
        row.state["votes"] = {}
        row.skips = 0
        if row.turn_order == "list":
            row.turn_index += 1
        if row.scene >= len(self.story.scenes):
            self._finish(change, ending=True)
            return
        row.scene += 1
        self._open_scene(change)

    def _finish(self, change: _Change, *, ending: bool) -> None:
        row = change.row
        row.status = ENDED
        row.phase = ""
        row.actor_id = None
        row.deadline_ms = row.remaining_ms = None
        row.ended_at = utcnow()
        if ending:
            text = epilogue(self.story, row.players, row.state["flags"], row.state["picks"])
            change.say("epilogue", text, title="Epilogue")

    # ------------------------------------------------------------------ actions
    async def choose(self, session_id: int, scene: int, user: str, option_id: str) -> Outcome:
        """A click on a decision button: the current player's choice, a vote, or the host's tie-break."""
        await self.load()
        async with self._lock(session_id):
            row = self._copy(session_id)
            if row.status != PLAYING or scene != row.scene:
                raise StoryRefusal("That decision is already made.")
            story_scene = self.story.scene(row.scene)
            if option_id not in {option.id for option in story_scene.decision.options}:
                raise StoryRefusal("That is not one of the options.")
            now = self.now_ms()
            change = _Change(row, now)
            resumed = self._resume(change)
            try:
                player = self._check_turn(row, user, option_id)
            except StoryRefusal as refusal:
                if resumed:
                    await self._commit(change)
                    refusal.posts = tuple(change.posts)
                raise
            row.last_activity_ms = now
            if row.phase == "tiebreak":
                self._decide(change, option_id, None, "The host broke the tie. ")
                await self._commit(change)
                return Outcome(row.id, row.scope, "You broke the tie." + resumed, tuple(change.posts))
            assert player is not None
            if row.turn_order != "vote":
                self._decide(change, option_id, player, "")
                await self._commit(change)
                return Outcome(row.id, row.scope, "Your choice is made." + resumed, tuple(change.posts))
            votes: dict[str, str] = row.state["votes"]
            votes[str(player.id)] = option_id
            row.state["picks"].setdefault(str(player.id), {})[str(row.scene)] = option_id
            change.event("vote", option_id, player_id=player.id, option=option_id)
            voters = active_players(row)
            label = story_scene.decision.option(option_id).label
            reply = f"Your vote: {label} ({len(votes)} of {len(voters)} voted)." + resumed
            if all(str(p.id) in votes for p in voters):
                self._close_vote(change, by="")
            await self._commit(change)
        return Outcome(row.id, row.scope, reply, tuple(change.posts))

    def _check_turn(self, row: SessionRow, user: str, option_id: str) -> PlayerRow | None:
        """The player whose click this is, if it counts now; StoryRefusal says why not."""
        if row.phase == "tiebreak":
            if row.host is None or row.host != user:
                raise StoryRefusal("Not your turn: the host is breaking the tie.")
            if option_id not in row.state.get("tied", []):
                raise StoryRefusal("Pick one of the tied options.")
            return None
        player = self._player(row, user)
        if player is None or not player.active:
            raise StoryRefusal("Not your turn: you are not playing in this story.")
        if row.turn_order != "vote" and row.actor_id != player.id:
            raise StoryRefusal(f"Not your turn: it is {self._name_of(row, row.actor_id)}'s call.")
        return player

    def _close_vote(self, change: _Change, by: str) -> None:
        row = change.row
        scene = self.story.scene(row.scene)
        options = [option.id for option in scene.decision.options]
        votes: dict[str, str] = row.state["votes"]
        host = self._player(row, row.host) if row.host else None
        host_vote = votes.get(str(host.id)) if host is not None else None
        winner, tied = tally(votes, options, host_vote)
        counts = ", ".join(
            f"{scene.decision.option(o).label}: {sum(1 for v in votes.values() if v == o)}"
            for o in options
            if o in votes.values()
        )
        if winner is not None:
            note = " (the host's vote broke the tie)" if len(tied) > 1 else ""
            self._decide(change, winner, None, f"{by}The votes are in ({counts}){note}. ")
            return
        if not tied:
            self._decide(change, options[0], None, f"{by}Nobody voted, so the story goes on. ")
            return
        if row.host is None:
            self._decide(change, tied[0], None, f"{by}A tie ({counts}), and no host to break it. ")
            return
        row.phase = "tiebreak"
        row.state["tied"] = tied
        row.deadline_ms = change.now_ms + row.vote_seconds * 1000
        labels = tuple((o, scene.decision.option(o).label) for o in tied)
        prompt = Prompt(row.id, row.scene, "tiebreak", labels)
        text = f"A tie ({counts}). The host breaks it ({row.vote_seconds} s)."
        change.event("tie", ",".join(tied))
        change.post(text, prompt)

    async def leave(self, scope: str, user: str) -> Outcome:
        """Leave the session of this place; the story goes on without you."""
        session_id = await self.session_id(scope)
        async with self._lock(session_id):
            row = self._copy(session_id)
            change = _Change(row, self.now_ms())
            player = self._active_player(row, user)
            self._remove(change, player, f"{player.name} leaves the story.")
            await self._commit(change)
        lobby = self.lobby_post(row) if row.status == LOBBY else None
        return Outcome(row.id, row.scope, "You left the story.", tuple(change.posts), lobby)

    async def leave_session(self, session_id: int, user: str) -> Outcome:
        """Leave from the lobby's Leave button."""
        row = self._copy(session_id)
        return await self.leave(row.scope, user)

    def _remove(self, change: _Change, player: PlayerRow, text: str) -> None:
        """Take a player out: the turn passes on, the host role moves, an empty story ends."""
        row = change.row
        before = active_players(row)
        position = before.index(player)
        player.active = False
        change.players.append(player)
        change.event("leave", "left", player_id=player.id)
        change.post(text)
        row.state["votes"].pop(str(player.id), None)
        remaining = active_players(row)
        if row.host == player.user:
            row.host = remaining[0].user if remaining else None
            if remaining:
                change.post(f"{remaining[0].name} is the host now.")
        if row.status != PLAYING:
            if not remaining and row.status == LOBBY and row.host is None:
                self._finish(change, ending=False)
                change.post("The lobby is empty and closes.")
            return
        if not remaining:
            self._finish(change, ending=False)
            change.say("end", "Everyone has left; the story ends here.")
            return
        if row.turn_order == "list" and before:
            current = row.turn_index % len(before)
            if position < current:
                row.turn_index = current - 1
            elif position == current:
                row.turn_index = current % len(remaining) if current < len(remaining) else 0
        scene = self.story.scene(row.scene)
        if row.phase == "tiebreak":
            return
        if row.turn_order == "vote":
            votes: dict[str, str] = row.state["votes"]
            if votes and all(str(p.id) in votes for p in remaining):
                self._close_vote(change, by="")
            return
        if row.actor_id == player.id:
            row.skips = 0
            self._arm(change, scene)

    async def skip(self, scope: str, user: str, *, can_moderate: bool = False) -> Outcome:
        """Host or moderator: skip the current player (list, natural) or close the vote now (vote)."""
        session_id = await self.session_id(scope)
        async with self._lock(session_id):
            row = self._copy(session_id)
            if not self._can_run(row, user, can_moderate):
                raise StoryRefusal("Only the host (or someone with Manage Messages) can skip.")
            if row.status != PLAYING:
                raise StoryRefusal("The story has not begun yet.")
            change = _Change(row, self.now_ms())
            resumed = self._resume(change)
            row.last_activity_ms = change.now_ms
            self._expire(change, by_host=True)
            await self._commit(change)
        return Outcome(row.id, row.scope, "Skipped." + resumed, tuple(change.posts))

    def _expire(self, change: _Change, *, by_host: bool) -> None:
        """The current turn, vote or tie-break is over without an answer."""
        row = change.row
        scene = self.story.scene(row.scene)
        if row.phase == "tiebreak":
            tied: list[str] = row.state.get("tied") or [scene.decision.options[0].id]
            self._decide(change, tied[0], None, "The tie was not broken in time. ")
            return
        if row.turn_order == "vote":
            if not row.state["votes"] and not by_host:
                self._pause(change, "Nobody voted.")
                return
            self._close_vote(change, by="The host closed the vote. " if by_host else "Time is up. ")
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
            self._pause(change, "Nobody has decided.")
            return
        change.post(f"{name} {'is skipped by the host' if by_host else 'took too long and is skipped'}.")
        self._arm(change, scene)

    def _pause(self, change: _Change, why: str) -> None:
        row = change.row
        row.paused = True
        if row.deadline_ms is not None:
            row.remaining_ms = max(0, row.deadline_ms - change.now_ms)
        row.deadline_ms = None
        change.event("pause", why)
        change.post(f"{why} The story is paused. {_RESUME_HINT}")

    def _resume(self, change: _Change) -> str:
        """Resume a paused session (any button or /story status does); returns a note for the reply."""
        row = change.row
        if not row.paused:
            return ""
        row.paused = False
        row.last_activity_ms = change.now_ms
        change.event("resume", "resumed")
        if row.status == PLAYING:
            remaining = row.remaining_ms or 0
            row.remaining_ms = None
            row.skips = 0
            if row.turn_order == "vote" and row.phase == "deciding" and remaining >= 5000:
                row.deadline_ms = change.now_ms + remaining
                change.post(f"The story resumes. The vote goes on: {remaining // 1000} s left.")
            else:
                change.post("The story resumes.")
                if row.phase == "tiebreak":
                    row.deadline_ms = change.now_ms + row.vote_seconds * 1000
                else:
                    self._arm(change, self.story.scene(row.scene))
        else:
            row.remaining_ms = None
            change.post("The lobby is open again.")
        return " The story resumes."

    async def end(self, scope: str, user: str, *, can_moderate: bool = False) -> Outcome:
        """Host or moderator: end the story now, with an epilogue of the choices so far."""
        session_id = await self.session_id(scope)
        async with self._lock(session_id):
            row = self._copy(session_id)
            if not self._can_run(row, user, can_moderate):
                raise StoryRefusal("Only the host (or someone with Manage Messages) can end the story.")
            change = _Change(row, self.now_ms())
            change.event("end", "ended by the host")
            self._finish(change, ending=row.status == PLAYING)
            change.post("The story ends here.")
            await self._commit(change)
        return Outcome(row.id, row.scope, "The story is over.", tuple(change.posts))

    async def status(self, scope: str) -> Outcome:
        """Where the story is, who plays, whose turn; resumes a paused session."""
        session_id = await self.session_id(scope)
        async with self._lock(session_id):
            row = self._copy(session_id)
            change = _Change(row, self.now_ms())
            resumed = self._resume(change)
            if resumed:
                await self._commit(change)
        return Outcome(row.id, row.scope, self.describe(row, change.now_ms), tuple(change.posts))

    def describe(self, row: SessionRow, now_ms: int) -> str:
        """A few lines on the session's state."""
        players = ", ".join(player_label(p) for p in active_players(row)) or "nobody"
        host = self._player(row, row.host) if row.host else None
        lines = [f"Turn order: {row.turn_order}. Players: {players}. Host: {host.name if host else 'none'}."]
        if row.status == LOBBY:
            lines.insert(0, "The lobby is open; the host starts the story.")
            return "\n".join(lines)
        scene = self.story.scene(row.scene)
        lines.insert(0, f"Scene {row.scene} of {len(self.story.scenes)}: {scene.title}.")
        left = f", {max(0, (row.deadline_ms - now_ms) // 1000)} s left" if row.deadline_ms else ""
        if row.phase == "tiebreak":
            lines.append(f"Waiting for the host to break a tie{left}.")
        elif row.turn_order == "vote":
            lines.append(f"Votes: {len(row.state['votes'])} of {len(active_players(row))}{left}.")
        else:
            lines.append(f"Waiting for {self._name_of(row, row.actor_id)}{left}.")
        return "\n".join(lines)

    async def _events(self, session_id: int) -> list[EventRow]:
        async with self._sessions() as session:
            return await StoryRepository(session).events(session_id)

    async def recap(self, scope: str) -> Outcome:
        """A persona nobody plays retells the session so far, from its stored transcript."""
        row = await self.session_in(scope)
        if row is None or row.status != PLAYING:
            raise StoryRefusal("There is no story under way here.")
        events = await self._events(row.id)
        persona, text, fact_ids = recap(self.story, self.base, events, row.players, row.scene, self._played(row))
        return Outcome(row.id, row.scope, "Here is the story so far.", (Post(text, persona, "Recap", None, fact_ids),))

    async def transcript(self, scope: str) -> dict[str, Any]:
        """The newest session of this place (running or ended) as JSON-ready data."""
        async with self._sessions() as session:
            repo = StoryRepository(session)
            found = await repo.latest_in_scope(scope)
            if found is None:
                raise StoryRefusal("No story has been played here yet.")
            events = await repo.events(found.id)
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

    # ------------------------------------------------------------------ the clock
    async def tick(self) -> list[Tick]:
        """Expire turns and votes whose time is up and pause idle sessions; returns what to announce."""
        await self.load()
        now = self.now_ms()
        pause_ms = self.config.pause_seconds * 1000
        due = [
            row.id
            for row in self._live.values()
            if not row.paused
            and (
                (row.deadline_ms is not None and row.deadline_ms <= now)
                or (now - row.last_activity_ms >= pause_ms and (row.status == LOBBY or row.deadline_ms is not None))
            )
        ]
        ticks: list[Tick] = []
        for session_id in due:
            async with self._lock(session_id):
                if session_id not in self._live:
                    continue
                row = self._copy(session_id)
                change = _Change(row, now)
                if row.paused:
                    continue
                if now - row.last_activity_ms >= pause_ms:
                    self._pause(change, "Nobody has played for a while.")
                elif row.deadline_ms is not None and row.deadline_ms <= now and row.status == PLAYING:
                    self._expire(change, by_host=False)
                else:
                    continue
                try:
                    await self._commit(change)
                except Exception:
                    log.exception("could not store the timeout of story session %s", session_id)
                    continue
            ticks.append(Tick(row.id, row.scope, tuple(change.posts)))
        return ticks

    async def suspend(self) -> int:
        """Before a shutdown: stop every running clock, keeping each vote's and turn's remaining time."""
        await self.load()
        now = self.now_ms()
        stopped = 0
        for session_id in list(self._live):
            async with self._lock(session_id):
                row = self._copy(session_id)
                if row.deadline_ms is None or row.paused:
                    continue
                row.remaining_ms = max(0, row.deadline_ms - now)
                row.deadline_ms = None
                await self._commit(_Change(row, now))
                stopped += 1
        return stopped

    async def restart_clocks(self) -> int:
        """After a start: run again the clocks ``suspend`` stopped, with the time they had left."""
        await self.load()
        now = self.now_ms()
        started = 0
        for session_id in list(self._live):
            async with self._lock(session_id):
                row = self._copy(session_id)
                if row.paused or row.deadline_ms is not None or row.remaining_ms is None or row.status != PLAYING:
                    continue
                row.deadline_ms = now + row.remaining_ms
                row.remaining_ms = None
                await self._commit(_Change(row, now))
                started += 1
        return started

    # ------------------------------------------------------------------ privacy
    async def forget(self, user: str) -> int:
        """Remove ``user`` from every session; their turns stay in transcripts as "a former player"."""
        await self.load()
        touched = [sid for sid, row in self._live.items() if self._player(row, user) is not None]
        for session_id in touched:
            async with self._lock(session_id):
                if session_id not in self._live:
                    continue
                row = self._copy(session_id)
                change = _Change(row, self.now_ms())
                player = self._player(row, user)
                assert player is not None
                if player.active:
                    self._remove(change, player, "A player has left the story.")
                if row.host == user:
                    row.host = None
                player.user, player.name, player.active = None, FORMER_PLAYER, False
                change.players.append(player)
                change.posts.clear()
                await self._commit(change)

        async def op(repo: StoryRepository) -> int:
            return await repo.forget(user)

        return len(touched) + int(await self._writes.submit(op))
