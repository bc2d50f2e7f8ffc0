"""The group story's scene graph: narration, persona lines, decisions and flags, loaded from ``story.yaml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from personas.checking import DocumentChecker, read_yaml
from personas.factbase import PERSONA_IDS, FactBase

__all__ = [
    "ROLES",
    "STORY_PATH",
    "Decision",
    "Flag",
    "Option",
    "Reflection",
    "Story",
    "StoryError",
    "StoryLine",
    "StoryScene",
    "load_story",
    "parse_story",
]

STORY_PATH: Path = Path(__file__).parent / "story.yaml"
ROLES: tuple[str, ...] = (*PERSONA_IDS, "fighter")
"""What a player can be: one of the personas, or a resistance fighter of their own naming."""

MIN_SCENES = 8
MAX_LABEL = 80
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class StoryError(ValueError):
    """The story document is malformed; the message names the file, the item and the problem."""


@dataclass(frozen=True, slots=True)
class StoryLine:
    """A persona saying its own line for one fact of the scene."""

    persona: str
    fact: str


@dataclass(frozen=True, slots=True)
class Reflection:
    """Narration said when earlier choices left the flags as ``when`` says."""

    when: Mapping[str, str]
    text: str

    def applies(self, flags: Mapping[str, str]) -> bool:
        """True when every flag of ``when`` has its value in ``flags``."""
        return all(flags.get(flag) == value for flag, value in self.when.items())


@dataclass(frozen=True, slots=True)
class Option:
    """One answer to a decision."""

    id: str
    label: str
    outcome: str
    sets: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the players decide in a scene; the first option is what happens when nobody decides."""

    prompt: str
    options: tuple[Option, ...]

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
    narration: str
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
    values: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Story:
    """All scenes in order, the flags and the closing line."""

    scenes: tuple[StoryScene, ...]
    flags: Mapping[str, Flag]
    closing: str

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
        return Story(tuple(scenes), MappingProxyType(flags), self.text(top["closing"], "closing"))

    def flag(self, flag_id: str, raw: object) -> Flag:
        where = f"flag {flag_id!r}"
        self.ident(flag_id, where)
        item = self.mapping(raw, where, {"label", "default", "values"})
        values = {
            self.ident(value, f"{where} value"): self.text(sentence, f"{where} value {value!r}")
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
            self.text(item["narration"], f"{where} narration"),
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
        return Reflection(MappingProxyType(when), self.text(item["text"], where))

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
        if len({option.label for option in options}) != len(options):
            raise self.fail(where, "duplicate option label")
        return Decision(self.text(item["prompt"], f"{where} prompt"), options)

    def option(self, raw: object, where: str, flags: Mapping[str, Flag]) -> Option:
        item = self.mapping(raw, f"{where} option", {"id", "label", "outcome", "sets"})
        option_id = self.ident(item["id"], f"{where} option id")
        where = f"{where} option {option_id!r}"
        label = self.text(item["label"], f"{where} label")
        if len(label) > MAX_LABEL:
            raise self.fail(where, f"label longer than {MAX_LABEL} characters")
        sets = {key: self.text(value, where) for key, value in self.mapping(item["sets"], f"{where} sets").items()}
        if not sets:
            raise self.fail(where, "sets no flag")
        for flag, value in sets.items():
            if flag not in flags or value not in flags[flag].values:
                raise self.fail(where, f"unknown flag or value {flag}={value}")
        return Option(option_id, label, self.text(item["outcome"], f"{where} outcome"), MappingProxyType(sets))
