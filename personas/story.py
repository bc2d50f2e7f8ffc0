"""The group story's scene graph: narration, persona lines, decisions and flags, loaded from ``story.yaml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from personas.checking import DocumentChecker, read_yaml
from personas.factbase import PERSONA_IDS, FactBase
from personas.roster import PERSONAS

__all__ = [
    "ALL",
    "FIGHTER",
    "FIGHTER_LABEL",
    "ROLES",
    "SELF",
    "STORY_PATH",
    "Decision",
    "Flag",
    "Option",
    "Reflection",
    "RoleText",
    "Story",
    "StoryError",
    "StoryLine",
    "StoryScene",
    "load_story",
    "parse_story",
    "role_names",
]

STORY_PATH: Path = Path(__file__).parent / "story.yaml"
FIGHTER = "fighter"
ROLES: tuple[str, ...] = (*PERSONA_IDS, FIGHTER)
"""What a player can be: one of the personas, or a resistance fighter of their own naming."""
FIGHTER_LABEL = "resistance fighter"
"""What the story calls a player who is none of the personas."""
ALL = "all"
"""The key of a text's variant for every role that has no variant of its own."""
SELF = "self"
"""In an option's ``sets``: the role of whoever the scene is told to (a wound taken by the one who chose)."""

MIN_SCENES = 8
MAX_LABEL = 80
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class StoryError(ValueError):
    """The story document is malformed; the message names the file, the item and the problem."""


def role_names(base: FactBase, role: str) -> tuple[str, ...]:
    """How the story can name a role in the third person: the persona's names and the fact base's aliases for it,
    or, for a fighter, ``FIGHTER_LABEL`` and its last word."""
    if role not in PERSONA_IDS:
        return (FIGHTER_LABEL, FIGHTER_LABEL.split()[-1])
    persona = PERSONAS[role]
    names = [persona.display_name, persona.display_name.split()[0], *persona.short_names]
    entity = base.entities.get(role)
    if entity is not None:
        names += [entity.name, *entity.aliases]
    return tuple(dict.fromkeys(name.lower() for name in names))


@dataclass(frozen=True, slots=True)
class RoleText:
    """A narrated text with its variant per role: whoever it is told to reads it in the second person."""

    variants: Mapping[str, str]
    """Role -> text; ``ALL`` for every role without its own."""

    def told_to(self, role: str) -> str:
        """The text as told to a player of ``role``."""
        return self.variants.get(role) or self.variants[ALL]

    def every(self) -> tuple[str, ...]:
        """Every variant, once."""
        return tuple(dict.fromkeys(self.variants.values()))


@dataclass(frozen=True, slots=True)
class StoryLine:
    """A persona saying its own line for one fact of the scene."""

    persona: str
    fact: str


@dataclass(frozen=True, slots=True)
class Reflection:
    """Narration said when earlier choices left the flags as ``when`` says."""

    when: Mapping[str, str]
    text: RoleText

    def applies(self, flags: Mapping[str, str]) -> bool:
        """True when every flag of ``when`` has its value in ``flags``."""
        return all(flags.get(flag) == value for flag, value in self.when.items())


@dataclass(frozen=True, slots=True)
class Option:
    """One answer to a decision."""

    id: str
    label: RoleText
    """Shown on its button and retold by the recap ("ann chose to ..."): an imperative without "you"."""
    outcome: RoleText
    sets: Mapping[str, str]
    roles: frozenset[str]
    """The roles it is offered to (an option never has a player act on their own role)."""

    def sets_for(self, role: str) -> dict[str, str]:
        """The flags it sets when the scene is told to ``role`` (``SELF`` becomes that role)."""
        return {flag: role if value == SELF else value for flag, value in self.sets.items()}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the players decide in a scene; the first option is what happens when nobody decides."""

    prompt: RoleText
    options: tuple[Option, ...]

    def options_for(self, role: str) -> tuple[Option, ...]:
        """The options offered when the scene is told to ``role``; the first is the same for every role."""
        return tuple(option for option in self.options if role in option.roles)

    def option(self, option_id: str) -> Option:
        """The option with this id; KeyError if there is none."""
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(option_id)


@dataclass(frozen=True, slots=True)
class StoryScene:
    """One scene of the story."""

    number: int
    id: str
    title: str
    narration: RoleText
    reflect: tuple[Reflection, ...]
    lines: tuple[StoryLine, ...]
    after: tuple[StoryLine, ...]
    addresses: tuple[str, ...]
    decision: Decision


@dataclass(frozen=True, slots=True)
class Flag:
    """A piece of story state: its default and the epilogue's sentence for each value."""

    id: str
    label: str
    default: str
    values: Mapping[str, RoleText]


@dataclass(frozen=True, slots=True)
class Story:
    """All scenes in order, the flags and the closing line."""

    scenes: tuple[StoryScene, ...]
    flags: Mapping[str, Flag]
    closing: RoleText

    def scene(self, number: int) -> StoryScene:
        """The scene with this number (from 1); KeyError if there is none."""
        if 1 <= number <= len(self.scenes):
            return self.scenes[number - 1]
        raise KeyError(number)

    def initial_flags(self) -> dict[str, str]:
        """Every flag at its default."""
        return {flag.id: flag.default for flag in self.flags.values()}


def load_story(base: FactBase, path: Path | None = None) -> Story:
    """Read and validate the story file (``STORY_PATH`` by default) against the fact base."""
    path = STORY_PATH if path is None else path
    return parse_story(read_yaml(path, StoryError), base, str(path))


def parse_story(data: object, base: FactBase, source: str = "<data>") -> Story:
    """Validate a parsed story document against ``base`` and build the story."""
    return _Parser(source, base).document(data)


class _Parser(DocumentChecker):
    """Checks one document; every error names the source and the item at fault."""

    error = StoryError
    forbidden = (*DocumentChecker.forbidden, "{", "}")

    def __init__(self, source: str, base: FactBase) -> None:
        super().__init__(source)
        self.base = base

    def text(self, value: object, where: str) -> str:
        """A non-empty string, with its white space folded."""
        return " ".join(super().text(value, where).split())

    def role_text(self, value: object, where: str) -> RoleText:
        """A text, or a mapping of role -> text with ``all`` for the roles left out."""
        if not isinstance(value, dict):
            return RoleText(MappingProxyType({ALL: self.text(value, where)}))
        variants = {key: self.text(text, f"{where} ({key})") for key, text in self.mapping(value, where).items()}
        if unknown := sorted(variants.keys() - {ALL, *ROLES}):
            raise self.fail(where, f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)}, or {ALL})")
        if ALL not in variants and set(ROLES) - variants.keys():
            raise self.fail(where, f"needs a text for every role, or one for {ALL!r}")
        return RoleText(MappingProxyType(variants))

    def ident(self, value: object, where: str) -> str:
        text = self.text(value, where)
        if not _ID.match(text) or len(text) > 24:
            raise self.fail(where, f"bad id {text!r}, expected up to 24 lowercase words joined by -")
        return text

    def document(self, data: object) -> Story:
        top = self.mapping(data, "document", {"flags", "closing", "scenes"})
        flags = {key: self.flag(key, raw) for key, raw in self.mapping(top["flags"], "flags").items()}
        raw_scenes = self.seq(top["scenes"], "scenes")
        if len(raw_scenes) < MIN_SCENES or len(raw_scenes) != len(self.base.scenes):
            raise self.fail("scenes", f"expected one scene per fact base scene ({len(self.base.scenes)})")
        scenes: list[StoryScene] = []
        set_before: set[str] = set()
        for number, raw in enumerate(raw_scenes, 1):
            scene = self.scene(raw, number, flags, set_before)
            scenes.append(scene)
            set_before |= {flag for option in scene.decision.options for flag in option.sets}
        if unset := sorted(flags.keys() - set_before):
            raise self.fail(f"flag {unset[0]!r}", "no option sets it")
        return Story(tuple(scenes), MappingProxyType(flags), self.role_text(top["closing"], "closing"))

    def flag(self, flag_id: str, raw: object) -> Flag:
        where = f"flag {flag_id!r}"
        self.ident(flag_id, where)
        item = self.mapping(raw, where, {"label", "default", "values"})
        values = {
            self.ident(value, f"{where} value"): self.role_text(sentence, f"{where} value {value!r}")
            for value, sentence in self.mapping(item["values"], f"{where} values").items()
        }
        default = self.ident(item["default"], f"{where} default")
        if len(values) < 2 or default not in values:
            raise self.fail(where, "needs at least two values, the default among them")
        return Flag(flag_id, self.text(item["label"], f"{where} label"), default, MappingProxyType(values))

    def scene(self, raw: object, number: int, flags: Mapping[str, Flag], set_before: set[str]) -> StoryScene:
        keys = {"id", "title", "narration", "reflect", "lines", "after", "addresses", "decision"}
        item = self.mapping(raw, f"scene #{number}", keys)
        scene_id = self.ident(item["id"], f"scene #{number} id")
        where = f"scene {scene_id!r}"
        expected = self.base.scene(number).id
        if scene_id != expected:
            raise self.fail(where, f"scene {number} of the fact base is {expected!r}")
        reflect = tuple(
            self.reflection(entry, f"{where} reflect", flags, set_before)
            for entry in self.seq(item["reflect"], f"{where} reflect")
        )
        lines = self.lines(item["lines"], f"{where} lines", number)
        after = self.lines(item["after"], f"{where} after", number)
        if len({line.persona for line in lines}) < 2:
            raise self.fail(where, "needs lines from at least two personas before the decision")
        addresses = tuple(self.text(role, f"{where} addresses") for role in self.seq(item["addresses"], where))
        if not addresses or any(role not in ROLES for role in addresses):
            raise self.fail(where, f"addresses must name roles of {ROLES}")
        decision = self.decision(item["decision"], f"{where} decision", flags)
        return StoryScene(
            number,
            scene_id,
            self.text(item["title"], f"{where} title"),
            self.role_text(item["narration"], f"{where} narration"),
            reflect,
            lines,
            after,
            addresses,
            decision,
        )

    def reflection(self, raw: object, where: str, flags: Mapping[str, Flag], set_before: set[str]) -> Reflection:
        item = self.mapping(raw, where, {"when", "text"})
        when = {key: self.text(value, where) for key, value in self.mapping(item["when"], f"{where} when").items()}
        if not when:
            raise self.fail(where, "empty condition")
        for flag, value in when.items():
            if flag not in flags or value not in flags[flag].values:
                raise self.fail(where, f"unknown flag or value {flag}={value}")
            if flag not in set_before:
                raise self.fail(where, f"flag {flag!r} is not set by any earlier scene")
        return Reflection(MappingProxyType(when), self.role_text(item["text"], where))

    def lines(self, raw: object, where: str, number: int) -> tuple[StoryLine, ...]:
        found: list[StoryLine] = []
        for entry in self.seq(raw, where):
            item = self.mapping(entry, where, {"persona", "fact"})
            persona, fact_id = self.text(item["persona"], where), self.text(item["fact"], where)
            if persona not in PERSONA_IDS:
                raise self.fail(where, f"unknown persona {persona!r}")
            try:
                fact = self.base.fact(fact_id)
            except KeyError:
                raise self.fail(where, f"unknown fact {fact_id!r}") from None
            if fact.scene != number:
                raise self.fail(where, f"fact {fact_id!r} is of scene {fact.scene}, not {number}")
            if not fact.known_by(persona, number):
                raise self.fail(where, f"{persona} does not know {fact_id!r} by scene {number}")
            found.append(StoryLine(persona, fact_id))
        return tuple(found)

    def decision(self, raw: object, where: str, flags: Mapping[str, Flag]) -> Decision:
        item = self.mapping(raw, where, {"prompt", "options"})
        options = tuple(self.option(entry, where, flags) for entry in self.seq(item["options"], f"{where} options"))
        if not 2 <= len(options) <= 4:
            raise self.fail(where, f"needs 2 to 4 options, has {len(options)}")
        if len({option.id for option in options}) != len(options):
            raise self.fail(where, "duplicate option id")
        if options[0].roles != set(ROLES):
            raise self.fail(where, "the first option (what happens if nobody decides) must be offered to every role")
        for role in ROLES:
            offered = [option.label.told_to(role) for option in options if role in option.roles]
            if len(offered) < 2:
                raise self.fail(where, f"needs at least 2 options for the {role} role")
            if len(set(offered)) != len(offered):
                raise self.fail(where, f"duplicate option label for the {role} role")
        return Decision(self.role_text(item["prompt"], f"{where} prompt"), options)

    def option(self, raw: object, where: str, flags: Mapping[str, Flag]) -> Option:
        item = self.mapping(raw, f"{where} option")
        required = {"id", "label", "outcome", "sets"}
        self.mapping(raw, f"{where} option", required | ({"for"} & item.keys()))
        option_id = self.ident(item["id"], f"{where} option id")
        where = f"{where} option {option_id!r}"
        label = self.role_text(item["label"], f"{where} label")
        if any(len(text) > MAX_LABEL for text in label.every()):
            raise self.fail(where, f"label longer than {MAX_LABEL} characters")
        roles = frozenset(ROLES)
        if "for" in item:
            roles = frozenset(self.text(role, f"{where} for") for role in self.seq(item["for"], f"{where} for"))
            if not roles or not roles <= set(ROLES):
                raise self.fail(where, f"'for' must name roles of {ROLES}")
        sets = {key: self.text(value, where) for key, value in self.mapping(item["sets"], f"{where} sets").items()}
        if not sets:
            raise self.fail(where, "sets no flag")
        for flag, value in sets.items():
            if flag not in flags:
                raise self.fail(where, f"unknown flag or value {flag}={value}")
            wanted = roles if value == SELF else {value}
            if missing := sorted(wanted - flags[flag].values.keys()):
                raise self.fail(where, f"unknown flag or value {flag}={missing[0]}")
        outcome = self.role_text(item["outcome"], f"{where} outcome")
        return Option(option_id, label, outcome, MappingProxyType(sets), roles)
