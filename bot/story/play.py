"""Playing a turn: a choice, a vote or the host's tie-break, and the host's skip and end."""

from __future__ import annotations

from collections.abc import Callable

from bot.story.change import PLAYING, Change
from bot.story.clocks import Clocks
from bot.story.model import Outcome, StoryRefusal
from bot.story.rules import Rules, check_turn
from bot.story.store import SessionStore
from bot.story.turns import active_players, can_run, told_role

__all__ = ["Play"]


class Play:
    """The actions of a running story: decision clicks, and the host's skip and end."""

    def __init__(self, store: SessionStore, rules: Rules, clocks: Clocks, now_ms: Callable[[], int]) -> None:
        self._store = store
        self._rules = rules
        self._clocks = clocks
        self._now_ms = now_ms

    async def choose(self, session_id: int, scene: int, user: str, option_id: str) -> Outcome:
        """A click on a decision button: the current player's choice, a vote, or the host's tie-break."""
        store = self._store
        await store.load()
        async with store.lock(session_id):
            row = store.copy(session_id)
            if row.status != PLAYING or scene != row.scene:
                raise StoryRefusal("That decision is already made.")
            story_scene = self._rules.story.scene(row.scene)
            role = told_role(row, row.scene)
            if option_id not in {option.id for option in story_scene.decision.options_for(role)}:
                raise StoryRefusal("That is not one of the options.")
            now = self._now_ms()
            change = Change(row, now)
            resumed = self._clocks.resume(change)
            try:
                player = check_turn(row, user, option_id)
            except StoryRefusal as refusal:
                if resumed:
                    await store.commit(change)
                    refusal.posts, refusal.outbox_key = tuple(change.posts), change.outbox_key
                raise
            row.last_activity_ms = now
            if row.phase == "tiebreak":
                self._rules.decide(change, option_id, None, "The host broke the tie. ")
                await store.commit(change)
                return Outcome(
                    row.id, row.scope, "You broke the tie." + resumed, tuple(change.posts), outbox_key=change.outbox_key
                )
            assert player is not None
            if row.turn_order != "vote":
                self._rules.decide(change, option_id, player, "")
                await store.commit(change)
                return Outcome(
                    row.id,
                    row.scope,
                    "Your choice is made." + resumed,
                    tuple(change.posts),
                    outbox_key=change.outbox_key,
                )
            voters = len(active_players(row))
            voted = self._rules.vote(change, player, option_id)
            label = story_scene.decision.option(option_id).label.told_to(role)
            reply = f"Your vote: {label} ({voted} of {voters} voted)." + resumed
            await store.commit(change)
        return Outcome(row.id, row.scope, reply, tuple(change.posts), outbox_key=change.outbox_key)

    async def skip(self, scope: str, user: str, *, can_moderate: bool) -> Outcome:
        """Host or moderator: skip the current player (list, natural) or close the vote now (vote)."""
        session_id = await self._store.session_id(scope)
        async with self._store.lock(session_id):
            row = self._store.copy(session_id)
            if not can_run(row, user, can_moderate):
                raise StoryRefusal("Only the host (or someone with Manage Messages) can skip.")
            if row.status != PLAYING:
                raise StoryRefusal("The story has not begun yet.")
            change = Change(row, self._now_ms())
            resumed = self._clocks.resume(change)
            row.last_activity_ms = change.now_ms
            self._clocks.expire(change, by_host=True)
            await self._store.commit(change)
        return Outcome(row.id, row.scope, "Skipped." + resumed, tuple(change.posts), outbox_key=change.outbox_key)

    async def end(self, scope: str, user: str, *, can_moderate: bool) -> Outcome:
        """Host or moderator: end the story now, with an epilogue of the choices so far."""
        session_id = await self._store.session_id(scope)
        async with self._store.lock(session_id):
            row = self._store.copy(session_id)
            if not can_run(row, user, can_moderate):
                raise StoryRefusal("Only the host (or someone with Manage Messages) can end the story.")
            change = Change(row, self._now_ms())
            change.event("end", "ended by the host")
            self._rules.finish(change, ending=row.status == PLAYING)
            change.post("The story ends here.")
            await self._store.commit(change)
        return Outcome(row.id, row.scope, "The story is over.", tuple(change.posts), outbox_key=change.outbox_key)
