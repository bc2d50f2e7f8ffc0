"""Who plays: opening a lobby, joining with a role, starting the story, leaving it and being forgotten."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.story.change import LOBBY, NEW_PLAYER, PLAYING, Change, Write
from bot.story.clocks import Clocks
from bot.story.model import TURN_ORDERS, Outcome, Post, Prompt, StoryConfig, StoryRefusal
from bot.story.rules import Rules
from bot.story.store import SessionStore
from bot.story.telling import clean_name, player_label, role_label
from bot.story.turns import active_players, can_run, find_player
from db.story.repository import FORMER_PLAYER, EventRow, PlayerRow, ScopeTakenError, SessionRow, StoryRepository
from personas.factbase import PERSONA_IDS
from personas.roster import PERSONAS
from personas.story import ROLES

__all__ = ["Lobby"]


class Lobby:
    """The lobby and the cast of every session: who joins as whom, who leaves, who hosts."""

    def __init__(
        self, store: SessionStore, rules: Rules, clocks: Clocks, config: StoryConfig, now_ms: Callable[[], int]
    ) -> None:
        self._store = store
        self._rules = rules
        self._clocks = clocks
        self._config = config
        self._now_ms = now_ms

    def post(self, row: SessionRow) -> Post:
        """The lobby message: settings, who plays what, and the join buttons."""
        players = active_players(row)
        roster = "\n".join(f"- {player_label(p)}" for p in players) or "- nobody yet"
        taken = {p.role for p in players}
        free = [PERSONAS[r].display_name for r in PERSONA_IDS if r not in taken]
        text = (
            f"A story of Terminator 2 is about to begin. Turn order: {row.turn_order}"
            + (f", {row.vote_seconds} s per vote" if row.turn_order == "vote" else "")
            + f". Players ({len(players)}/{self._config.max_players}):\n{roster}\n"
            + f"Free roles: {', '.join([*free, 'resistance fighter'])}. The host starts when ready."
        )
        options = (*((r, f"Join as {PERSONAS[r].display_name}") for r in PERSONA_IDS), ("fighter", "Join as fighter"))
        prompt = Prompt(row.id, 0, "lobby", (*options, ("leave", "Leave"), ("start", "Start")))
        return Post(text, None, "Story lobby", prompt)

    def closed(self, row: SessionRow) -> Post:
        """The lobby message once the story has begun: the cast, no buttons."""
        roster = ", ".join(player_label(p) for p in active_players(row))
        return Post(f"The story has begun. Playing: {roster}.", None, "Story lobby")

    def check_free(self, scope: str) -> None:
        """StoryRefusal when a story runs in this place already (no database read, once the store is loaded)."""
        if self._store.running(scope) is not None:
            raise StoryRefusal("A story is already running here. Use /story status, or /story end first.")

    async def open(
        self, scope: str, host: str, *, turn_order: str, vote_seconds: int | None, guild_id: int | None
    ) -> Outcome:
        """Open a lobby in ``scope`` hosted by ``host``; refused when the place already has a session."""
        if turn_order not in TURN_ORDERS:
            raise StoryRefusal(f"Turn order must be one of {', '.join(TURN_ORDERS)}.")
        seconds = vote_seconds or self._config.default_vote_seconds
        if not 10 <= seconds <= 3600:
            raise StoryRefusal("Votes last between 10 and 3600 seconds.")
        await self._store.load()
        async with self._store.scope_lock(scope):
            self.check_free(scope)
            now = self._now_ms()
            row = SessionRow(
                id=0,
                scope=scope,
                guild_id=guild_id,
                host=host,
                turn_order=turn_order,
                vote_seconds=seconds,
                turn_seconds=self._config.turn_seconds,
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
                state={"flags": self._rules.story.initial_flags(), "votes": {}, "picks": {}},
                event_seq=1,
            )

            async def op(repo: StoryRepository) -> int:
                session_id = await repo.create_session(row)
                await repo.add_events(session_id, [EventRow(1, 0, "lobby", f"turn order {turn_order}", now)])
                return session_id

            try:
                row.id = await self._store.submit(op)
            except ScopeTakenError:
                raise StoryRefusal("A story is already running here.") from None
            self._store.remember(row)
        lobby = self.post(row)
        return Outcome(row.id, scope, "The lobby is open.", (lobby,), lobby)

    async def join(self, session_id: int, user: str, name: str, role: str, fighter_name: str | None) -> Outcome:
        """Join (or change role) as John, Sarah, the T-800 or a resistance fighter named ``fighter_name``."""
        if role not in ROLES:
            raise StoryRefusal(f"Choose a role among {', '.join(ROLES)}.")
        await self._store.load()
        async with self._store.lock(session_id):
            row = self._store.copy(session_id)
            now = self._now_ms()
            change = Change(row, now)
            resumed = self._clocks.resume(change)
            players = active_players(row)
            holder = next((p for p in players if p.role == role and role != "fighter"), None)
            me = find_player(row, user)
            if holder is not None and holder.user != user:
                raise StoryRefusal(f"{role_label(holder)} is already played by {holder.name}.")
            if (me is None or not me.active) and len(players) >= self._config.max_players:
                raise StoryRefusal(f"This story is full ({self._config.max_players} players).")
            shown = clean_name(fighter_name or name) if role == "fighter" else clean_name(name)
            row.last_activity_ms = now
            if me is None:
                seat = max((p.seat for p in row.players), default=0) + 1
                player = PlayerRow(0, user, shown, role, seat, True)  # its id is set when it is stored
                change.event("join", role, player_id=NEW_PLAYER)
                row.players.append(player)
                await self._store.commit(change, new_player=player)
            else:
                me.role, me.name, me.active = role, shown, True
                change.players.append(me)
                change.event("join", role, player_id=me.id)
                player = me
                await self._store.commit(change)
        # The join line is said where the join came from (a command), not stored: the lobby shows who plays.
        posts = (*change.posts, Post(f"{player.name} joins as {role_label(player)}."))
        lobby = self.post(row) if row.status == LOBBY else None
        reply = f"You play {role_label(player)}." + resumed
        return Outcome(row.id, row.scope, reply, posts, lobby, outbox_key=change.outbox_key)

    async def begin(self, session_id: int, user: str, *, can_moderate: bool) -> Outcome:
        """The host starts the story: scene 1 is told and its decision opened."""
        await self._store.load()
        async with self._store.lock(session_id):
            row = self._store.copy(session_id)
            if not can_run(row, user, can_moderate):
                raise StoryRefusal("Only the host (or someone with Manage Messages) can start the story.")
            if row.status != LOBBY:
                raise StoryRefusal("The story has already begun.")
            if not active_players(row):
                raise StoryRefusal("At least one player must join first.")
            change = Change(row, self._now_ms())
            row.paused, row.remaining_ms = False, None
            row.status = PLAYING
            row.scene = 1
            change.event("start", "the story begins")
            self._rules.open_scene(change)
            await self._store.commit(change)
        return Outcome(
            row.id, row.scope, "The story begins.", tuple(change.posts), self.closed(row), outbox_key=change.outbox_key
        )

    async def leave(self, scope: str, user: str) -> Outcome:
        """Leave the session of this place; the story goes on without you."""
        session_id = await self._store.session_id(scope)
        async with self._store.lock(session_id):
            row = self._store.copy(session_id)
            change = Change(row, self._now_ms())
            player = find_player(row, user)
            if player is None or not player.active:
                raise StoryRefusal("You are not playing in this story. Join it from its lobby with /story join.")
            self._rules.remove(change, player, f"{player.name} leaves the story.")
            await self._store.commit(change)
        lobby = self.post(row) if row.status == LOBBY else None
        return Outcome(
            row.id, row.scope, "You left the story.", tuple(change.posts), lobby, outbox_key=change.outbox_key
        )

    async def leave_session(self, session_id: int, user: str) -> Outcome:
        """Leave from the lobby's Leave button."""
        row = self._store.copy(session_id)
        return await self.leave(row.scope, user)

    @asynccontextmanager
    async def forgetting(self, user: str) -> AsyncIterator[Callable[[AsyncSession], Awaitable[int]]]:
        """Take ``user`` out of every session, in the caller's transaction.

        Holds the locks of the sessions they play in, and yields the write to run in the transaction: their seat
        left (the turn passes on) and their name replaced by "a former player" everywhere; it returns the rows
        changed. The sessions kept in memory change only once the body has ended without an error, after commit.
        """
        store = self._store
        await store.load()
        touched = sorted(row.id for row in store.rows() if find_player(row, user) is not None)
        async with AsyncExitStack() as locks:
            for session_id in touched:
                await locks.enter_async_context(store.lock(session_id))
            changes: list[Change] = []
            for session_id in touched:
                if not store.is_live(session_id):
                    continue
                row = store.copy(session_id)
                change = Change(row, self._now_ms())
                player = find_player(row, user)
                assert player is not None
                if player.active:
                    self._rules.remove(change, player, "A player has left the story.")
                if row.host == user:
                    row.host = None
                player.user, player.name, player.active = None, FORMER_PLAYER, False
                change.players.append(player)
                change.posts.clear()
                changes.append(change)

            async def write(session: AsyncSession) -> int:
                repo = StoryRepository(session)
                await store.save(repo, [Write(c.row, tuple(c.players), tuple(c.events), None) for c in changes])
                return len(changes) + await repo.forget(user)

            yield write
            for change in changes:
                store.saved(change.row)

    async def forget(self, user: str) -> int:
        """Remove ``user`` from every session in a transaction of its own; their turns stay as "a former player"."""
        async with self.forgetting(user) as write, self._store.write_lock, self._store.sessions.begin() as session:
            return await write(session)
