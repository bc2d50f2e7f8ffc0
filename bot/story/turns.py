"""Players and turn order: who is in, who acts in list and natural order, and how a vote is counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from db.story.repository import PlayerRow, SessionRow
from personas.factbase import PERSONA_IDS
from personas.story import FIGHTER, StoryScene

__all__ = [
    "active_players",
    "can_run",
    "everyone_voted",
    "find_player",
    "host_of",
    "lead_of",
    "name_of",
    "natural_order",
    "pick_actor",
    "played_personas",
    "tally",
    "told_role",
]


def active_players(row: SessionRow) -> list[PlayerRow]:
    """The players still in the session, in seat order."""
    return sorted((player for player in row.players if player.active), key=lambda player: player.seat)


def find_player(row: SessionRow, user: str) -> PlayerRow | None:
    """The player (active or not) of this user in the session."""
    return next((player for player in row.players if player.user == user), None)


def host_of(row: SessionRow) -> PlayerRow | None:
    """The host's player, if the host plays."""
    return find_player(row, row.host) if row.host else None


def name_of(row: SessionRow, player_id: int | None) -> str:
    """The name of a player of the session, or "someone"."""
    found = next((player for player in row.players if player.id == player_id), None)
    return found.name if found is not None else "someone"


def played_personas(row: SessionRow) -> set[str]:
    """The personas that players play (and the bot therefore does not voice)."""
    return {player.role for player in active_players(row) if player.role in PERSONA_IDS}


def can_run(row: SessionRow, user: str, can_moderate: bool) -> bool:
    """Whether the user may start, skip or end: the host or a moderator."""
    return can_moderate or (row.host is not None and row.host == user)


def everyone_voted(row: SessionRow) -> bool:
    """Whether there are votes and every active player has cast one."""
    votes: Mapping[str, str] = row.state["votes"]
    return bool(votes) and all(str(player.id) in votes for player in active_players(row))


def natural_order(players: Sequence[PlayerRow], addresses: Sequence[str]) -> list[PlayerRow]:
    """The players the scene addresses first (in the scene's order of roles), then the others by seat."""
    first: list[PlayerRow] = []
    for role in addresses:
        first += [player for player in players if player.role == role and player not in first]
    return first + [player for player in players if player not in first]


def pick_actor(row: SessionRow, scene: StoryScene) -> PlayerRow | None:
    """Who decides now in list or natural order (None in vote order or without players)."""
    players = active_players(row)
    if not players or row.turn_order == "vote":
        return None
    if row.turn_order == "list":
        return players[row.turn_index % len(players)]
    order = natural_order(players, scene.addresses)
    return order[row.skips % len(order)]


def tally(votes: Mapping[str, str], options: Sequence[str], host_vote: str | None) -> tuple[str | None, list[str]]:
    """The winning option and the options tied for most votes; the host's vote breaks a tie."""
    counts = Counter(vote for vote in votes.values() if vote in options)
    if not counts:
        return None, []
    best = max(counts.values())
    tied = [option for option in options if counts[option] == best]
    if len(tied) == 1:
        return tied[0], tied
    if host_vote in tied:
        return host_vote, tied
    return None, tied


def lead_of(row: SessionRow, scene: StoryScene) -> PlayerRow | None:
    """The player a scene is told to: who decides (list, natural), or in a vote the one the scene addresses first."""
    players = active_players(row)
    if row.turn_order != "vote":
        return pick_actor(row, scene)
    return natural_order(players, scene.addresses)[0] if players else None


def told_role(row: SessionRow, scene: int) -> str:
    """The role the session's scene was told to (what its options and outcome say "you" to)."""
    told: Mapping[str, str] = row.state.get("told", {})
    return told.get(str(scene), FIGHTER)  # a scene nobody was there for is told as to a resistance fighter
