"""Turning the scene data and a session's transcript into what is said: scenes, recaps, epilogues."""

from __future__ import annotations

import re
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from db.story.repository import EventRow, PlayerRow
from personas.factbase import FactBase
from personas.roster import PERSONAS
from personas.story import FIGHTER, FIGHTER_LABEL, RoleText, Story, StoryLine, StoryScene

__all__ = [
    "RECAP_ORDER",
    "Spoken",
    "clean_name",
    "epilogue",
    "line_for",
    "player_label",
    "recap",
    "role_label",
    "scene_opening",
    "spoken_lines",
    "told_to_each",
]

RECAP_ORDER = ("john", "sarah", "t800")
"""Who retells the story, the first one nobody plays."""
_UNSAFE = re.compile(r"[^\w .'\-]")


@dataclass(frozen=True, slots=True)
class Spoken:
    """A line a persona says, with the fact it states."""

    persona: str
    text: str
    fact_id: str


def clean_name(name: str, limit: int = 32) -> str:
    """A display or fighter name that cannot ping, link or format: letters, digits, spaces and .'-."""
    cleaned = " ".join(_UNSAFE.sub("", name).split())[:limit].strip()
    return cleaned or "a fighter"


def role_label(player: PlayerRow) -> str:
    """ "John Connor", "T-800" or "resistance fighter"."""
    persona = PERSONAS.get(player.role)
    return persona.display_name if persona is not None else FIGHTER_LABEL


def player_label(player: PlayerRow) -> str:
    """ "alice (John Connor)"."""
    return f"{player.name} ({role_label(player)})"


def line_for(base: FactBase, line: StoryLine, seed: str) -> Spoken:
    """The persona's own line for the fact, one of its variants chosen by ``seed``."""
    variants = base.fact(line.fact).lines[line.persona]
    index = zlib.crc32(f"{seed}|{line.fact}|{line.persona}".encode()) % len(variants)
    return Spoken(line.persona, variants[index], line.fact)


def spoken_lines(base: FactBase, lines: Sequence[StoryLine], played: Collection[str], seed: str) -> list[Spoken]:
    """The lines of personas nobody plays (a played persona is voiced by its player, not the bot)."""
    return [line_for(base, line, seed) for line in lines if line.persona not in played]


def scene_opening(scene: StoryScene, flags: Mapping[str, str], role: str) -> str:
    """The scene's narration followed by what earlier choices changed, as told to a player of ``role``."""
    parts = [scene.narration] + [reflection.text for reflection in scene.reflect if reflection.applies(flags)]
    return " ".join(text.told_to(role) for text in parts)


def told_to_each(text: RoleText, players: Sequence[PlayerRow]) -> list[str]:
    """A text for a post everyone reads: once if it reads the same for every role played, else once per reading,
    each led by the names of the players it is told to ("ann: You carry ...")."""
    readers: dict[str, list[str]] = {}
    for player in sorted(players, key=lambda p: p.seat):
        readers.setdefault(text.told_to(player.role), []).append(player.name)
    if len(readers) <= 1:
        return [next(iter(readers), text.told_to(FIGHTER))]
    return [f"{', '.join(names)}: {reading}" for reading, names in readers.items()]


def epilogue(
    story: Story,
    players: Sequence[PlayerRow],
    flags: Mapping[str, str],
    picks: Mapping[str, Mapping[str, str]],
    decided: Collection[int],
    told: Mapping[str, str],
    set_by: Mapping[str, int] | None = None,
) -> str:
    """Each player's choices (or last votes), what the decided scenes made of the story state, the closing line.

    A choice reads as its button did (told to the role the scene was told to, ``told``: scene -> role). When one
    player decides each scene (``set_by``: flag -> the scene that set it last), what a decision made of the story
    state is told to the role that scene was told to, led by its players' names when the group plays several
    roles: the one who chose reads "you", and nobody reads "you" for a choice another made. Without ``set_by``
    (everyone votes on every scene), and for a state nobody changed, it is told to each player's role, as is the
    closing line. A story ended early says nothing of the flags that only undecided scenes could set.
    """
    lines: list[str] = []  # the post is titled "Epilogue": the text does not say it again
    active = [player for player in players if player.active] or list(players)
    for player in sorted(players, key=lambda p: p.seat):
        chosen = picks.get(str(player.id), {})
        summary = "; ".join(
            f"{scene.title}: "
            + scene.decision.option(chosen[str(scene.number)]).label.told_to(told.get(str(scene.number), player.role))
            for scene in story.scenes
            if str(scene.number) in chosen
        )
        lines.append(f"- {player_label(player)}: {summary or 'watched the story unfold'}.")
    touched = {
        flag
        for scene in story.scenes
        if scene.number in decided
        for option in scene.decision.options
        for flag in option.sets
    }
    roles = {player.role for player in active}
    for flag in story.flags.values():
        if flag.id not in touched:
            continue
        text = flag.values[flags.get(flag.id, flag.default)]
        scene = (set_by or {}).get(flag.id)
        role = told.get(str(scene)) if scene is not None else None
        deciders = [player.name for player in sorted(active, key=lambda p: p.seat) if player.role == role]
        if role is None or not deciders:
            lines += told_to_each(text, active)
        elif len(roles) == 1:
            lines.append(text.told_to(role))
        else:
            lines.append(f"{', '.join(deciders)}: {text.told_to(role)}")
    lines += told_to_each(story.closing, active)
    return "\n".join(lines)


_LINKS = ("", "Then ", "After that, ", "Next, ")
_STATED = frozenset({"The", "A", "An", "John", "Sarah"})


def _told(count: int, who: str, label: str) -> str:
    """The ``count``-th decision, told by the narrator ("Then Kyle chose to stay close to John."); a player's name
    stays as it was typed."""
    first, _, rest = label.partition(" ")
    if first not in _STATED:
        deed = f"chose to {first.lower()} {rest}".rstrip()
    else:
        deed = f"decided that {first.lower() if first in ('The', 'A', 'An') else first} {rest}".rstrip()
    link = _LINKS[min(count, len(_LINKS) - 1)]
    subject = "The group" if who == "the group" and not link else who
    return f"{link}{subject} {deed}."


def recap(
    story: Story,
    base: FactBase,
    events: Sequence[EventRow],
    players: Sequence[PlayerRow],
    at_scene: int,
    played: Collection[str],
    told: Mapping[str, str],
) -> tuple[str | None, str, tuple[str, ...]]:
    """A retelling of the session so far from its stored transcript: (persona or None for narrator, text, facts).

    Each choice is retold with the label its button had (``told``: scene -> the role the scene was told to).
    """
    persona = next((candidate for candidate in RECAP_ORDER if candidate not in played), None)
    by_id = {player.id: player for player in players}
    parts: list[str] = []
    used: list[str] = []
    retold: list[str] = []
    for scene in story.scenes[:at_scene]:
        said = [e for e in events if e.scene == scene.number and e.kind == "line"]
        facts = [fact_id for e in said for fact_id in e.fact_ids]
        if persona is not None:
            known = [f for f in facts if base.fact(f).known_by(persona, at_scene) and base.fact(f).scene <= at_scene]
            for fact_id in dict.fromkeys(known):
                parts.append(line_for(base, StoryLine(persona, fact_id), "recap").text)
                used.append(fact_id)
        else:
            parts.append(f"{scene.title}.")
        for event in events:
            if event.scene == scene.number and event.kind == "decision" and event.option:
                label = scene.decision.option(event.option).label.told_to(told.get(str(scene.number), FIGHTER))
                decider = by_id.get(event.player_id) if event.player_id is not None else None
                who = decider.name if decider is not None else "the group"
                parts.append(_told(len(retold), who, label))
                retold.append(label)
    if not parts:
        return persona, "Nothing has happened yet.", ()
    return persona, " ".join(parts), tuple(dict.fromkeys(used))
