"""The rules of play, applied to one change: scenes told, turns and votes opened, decisions, departures, the end."""

from __future__ import annotations

from collections.abc import Sequence

from bot.story.change import ENDED, LOBBY, PLAYING, Change
from bot.story.model import Prompt, StoryRefusal
from bot.story.telling import epilogue, player_label, scene_opening, spoken_lines
from bot.story.turns import (
    active_players,
    everyone_voted,
    find_player,
    host_of,
    lead_of,
    name_of,
    played_personas,
    tally,
    told_role,
)
from db.models import utcnow
from db.story.repository import PlayerRow, SessionRow
from personas.factbase import FactBase
from personas.story import FIGHTER, Story, StoryLine, StoryScene

__all__ = ["Rules", "check_turn"]


def check_turn(row: SessionRow, user: str, option_id: str) -> PlayerRow | None:
    """The player whose click this is, if it counts now (None for the host's tie-break); StoryRefusal if not."""
    if row.phase == "tiebreak":
        if row.host is None or row.host != user:
            raise StoryRefusal("Not your turn: the host is breaking the tie.")
        if option_id not in row.state.get("tied", []):
            raise StoryRefusal("Pick one of the tied options.")
        return None
    player = find_player(row, user)
    if player is None or not player.active:
        raise StoryRefusal("Not your turn: you are not playing in this story.")
    if row.turn_order != "vote" and row.actor_id != player.id:
        raise StoryRefusal(f"Not your turn: it is {name_of(row, row.actor_id)}'s call.")
    return player


def _several_roles(row: SessionRow) -> bool:
    """Whether the players play more than one role, so that a scene is told to one of them."""
    return len({player.role for player in active_players(row)}) > 1


def _tell_to(row: SessionRow, player: PlayerRow | None) -> str:
    """Remember whom the current scene is told to (its options and outcome say "you" to that role)."""
    role = player.role if player is not None else FIGHTER
    row.state.setdefault("told", {})[str(row.scene)] = role
    return role


def _pick(row: SessionRow, player_id: int, option_id: str) -> None:
    """Remember a player's choice or vote in this scene, for the epilogue."""
    row.state["picks"].setdefault(str(player_id), {})[str(row.scene)] = option_id


class Rules:
    """What a session does next, given the story and the fact base its personas speak from."""

    def __init__(self, story: Story, base: FactBase) -> None:
        self.story = story
        self.base = base

    def _speak(self, change: Change, lines: Sequence[StoryLine], seed: str) -> None:
        """Say the lines of the personas nobody plays."""
        for spoken in spoken_lines(self.base, lines, played_personas(change.row), seed):
            change.say("line", spoken.text, persona=spoken.persona, fact_ids=(spoken.fact_id,))

    def open_scene(self, change: Change) -> None:
        """Tell the scene the session is at and open its decision."""
        row = change.row
        scene = self.story.scene(row.scene)
        flags: dict[str, str] = row.state["flags"]
        lead = lead_of(row, scene)
        role = _tell_to(row, lead)
        title = f"Scene {scene.number}: {scene.title}"
        if lead is not None and _several_roles(row):
            title += f", told to {player_label(lead)}"
        change.say("narration", scene_opening(scene, flags, role), title=title)
        self._speak(change, scene.lines, f"{row.id}|{row.scene}")
        row.phase = "deciding"
        row.skips = 0
        row.state["votes"] = {}
        self.arm(change, scene)

    def arm(self, change: Change, scene: StoryScene) -> None:
        """Set who acts and until when, and post the decision with its buttons."""
        row = change.row
        lead = lead_of(row, scene)
        role = _tell_to(row, lead)
        options = tuple((option.id, option.label.told_to(role)) for option in scene.decision.options_for(role))
        asked = scene.decision.prompt.told_to(role)
        if row.turn_order == "vote":
            row.actor_id = None
            row.deadline_ms = change.now_ms + row.vote_seconds * 1000
            prompt = Prompt(row.id, row.scene, "vote", options)
            voters = len(active_players(row))
            text = f"{asked}\nEveryone votes ({voters} voters, {row.vote_seconds} s)."
            if lead is not None and _several_roles(row):
                text += f" The scene is told to {player_label(lead)}: you vote on what {lead.name} does."
            change.post(text + " The majority wins; the host breaks ties.", prompt)
            return
        row.actor_id = lead.id if lead is not None else None
        row.deadline_ms = change.now_ms + row.turn_seconds * 1000
        prompt = Prompt(row.id, row.scene, "choose", options)
        who = lead.name if lead is not None else "someone"
        change.post(f"{asked}\n{who}, it is your call ({row.turn_seconds} s).", prompt)

    def decide(self, change: Change, option_id: str, decider: PlayerRow | None, how: str) -> None:
        """Apply a decision: flags, outcome, the lines after it, then the next scene or the epilogue."""
        row = change.row
        scene = self.story.scene(row.scene)
        option = scene.decision.option(option_id)
        role = told_role(row, row.scene)
        label = option.label.told_to(role)
        row.state["flags"].update(option.sets_for(role))
        row.state.setdefault("set_by", {}).update(dict.fromkeys(option.sets_for(role), row.scene))
        row.state["decided"] = [*row.state.get("decided", []), row.scene]
        if decider is not None:
            change.event("choice", label, player_id=decider.id, option=option.id)
            _pick(row, decider.id, option.id)
        change.event("decision", how, player_id=decider.id if decider else None, option=option.id)
        who = decider.name if decider is not None else "The group"
        change.post(f"{how}{who} chose: {label}.")
        change.say("narration", option.outcome.told_to(role))
        self._speak(change, scene.after, f"{row.id}|{row.scene}|after")
        row.state["votes"] = {}
        row.skips = 0
        if row.turn_order == "list":
            row.turn_index += 1
        if row.scene >= len(self.story.scenes):
            self.finish(change, ending=True)
            return
        row.scene += 1
        self.open_scene(change)

    def finish(self, change: Change, *, ending: bool) -> None:
        """End the session; with ``ending``, tell the epilogue."""
        row = change.row
        row.status = ENDED
        row.phase = ""
        row.actor_id = None
        row.deadline_ms = row.remaining_ms = None
        row.ended_at = utcnow()
        if ending:
            decided = row.state.get("decided", range(1, row.scene))
            told = row.state.get("told", {})
            # In vote order everyone decided every scene together, so what it made is told to each reader.
            set_by = None if row.turn_order == "vote" else row.state.get("set_by")
            text = epilogue(self.story, row.players, row.state["flags"], row.state["picks"], decided, told, set_by)
            change.say("epilogue", text, title="Epilogue")

    def vote(self, change: Change, player: PlayerRow, option_id: str) -> int:
        """Count a player's vote (closing the vote once everyone has voted); returns how many have voted."""
        row = change.row
        votes: dict[str, str] = row.state["votes"]
        votes[str(player.id)] = option_id
        _pick(row, player.id, option_id)
        change.event("vote", option_id, player_id=player.id, option=option_id)
        count = len(votes)
        if everyone_voted(row):
            self.close_vote(change, by="")
        return count

    def close_vote(self, change: Change, by: str) -> None:
        """Decide by the votes cast, or open a tie-break for the host."""
        row = change.row
        scene = self.story.scene(row.scene)
        role = told_role(row, row.scene)
        options = [option.id for option in scene.decision.options_for(role)]
        votes: dict[str, str] = row.state["votes"]
        host = host_of(row)
        host_vote = votes.get(str(host.id)) if host is not None else None
        winner, tied = tally(votes, options, host_vote)
        counts = ", ".join(
            f"{scene.decision.option(o).label.told_to(role)}: {sum(1 for v in votes.values() if v == o)}"
            for o in options
            if o in votes.values()
        )
        if winner is not None:
            note = " (the host's vote broke the tie)" if len(tied) > 1 else ""
            self.decide(change, winner, None, f"{by}The votes are in ({counts}){note}. ")
            return
        if not tied:
            self.decide(change, options[0], None, f"{by}Nobody voted, so the story goes on. ")
            return
        if row.host is None:
            self.decide(change, tied[0], None, f"{by}A tie ({counts}), and no host to break it. ")
            return
        row.phase = "tiebreak"
        row.state["tied"] = tied
        row.deadline_ms = change.now_ms + row.vote_seconds * 1000
        labels = tuple((o, scene.decision.option(o).label.told_to(role)) for o in tied)
        prompt = Prompt(row.id, row.scene, "tiebreak", labels)
        text = f"A tie ({counts}). The host breaks it ({row.vote_seconds} s)."
        change.event("tie", ",".join(tied))
        change.post(text, prompt)

    def remove(self, change: Change, player: PlayerRow, text: str) -> None:
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
                self.finish(change, ending=False)
                change.post("The lobby is empty and closes.")
            return
        if not remaining:
            self.finish(change, ending=False)
            change.say("end", "Everyone has left; the story ends here.")
            return
        if row.turn_order == "list":
            current = row.turn_index % len(before)
            if position < current:
                row.turn_index = current - 1
            elif position == current:
                row.turn_index = current if current < len(remaining) else 0
        if row.phase == "tiebreak":
            return
        if row.turn_order == "vote":
            if everyone_voted(row):
                self.close_vote(change, by="")
            return
        if row.actor_id == player.id:
            row.skips = 0
            self.arm(change, self.story.scene(row.scene))
