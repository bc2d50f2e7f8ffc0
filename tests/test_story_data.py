"""The scene graph in personas/story.yaml: complete, consistent with the fact base, and adding no film facts."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml

from bot.story.telling import epilogue, scene_opening
from db.story.repository import PlayerRow
from personas.factbase import PERSONA_IDS, SUMMARY_PATH, load_fact_base
from personas.story import MAX_LABEL, ROLES, STORY_PATH, Story, StoryError, load_story, parse_story, role_names

BASE = load_fact_base()
STORY = load_story(BASE)
RAW: dict[str, Any] = yaml.safe_load(STORY_PATH.read_text(encoding="utf-8"))
# Capitalised words in mid-sentence that are not film facts.
COMMON = {"Judgment", "Terminators", "Epilogue"}


def texts() -> list[str]:
    found = [*STORY.closing.every()]
    for scene in STORY.scenes:
        found += [scene.title, *scene.narration.every(), *scene.decision.prompt.every()]
        found += [text for r in scene.reflect for text in r.text.every()]
        found += [
            text for option in scene.decision.options for t in (option.label, option.outcome) for text in t.every()
        ]
    for flag in STORY.flags.values():
        found += [flag.label, *(text for sentence in flag.values.values() for text in sentence.every())]
    return found


def test_eight_scenes_cover_the_plot_in_order() -> None:
    assert [scene.id for scene in STORY.scenes] == [scene.id for scene in BASE.scenes]
    assert [scene.id for scene in STORY.scenes] == [
        "arrival", "mall", "hospital", "road", "dyson-home", "cyberdyne", "steel-mill", "farewell"
    ]  # fmt: skip


def test_every_scene_has_narration_lines_of_its_own_facts_and_a_decision() -> None:
    for scene in STORY.scenes:
        assert scene.narration and len({line.persona for line in scene.lines}) >= 2
        for line in (*scene.lines, *scene.after):
            fact = BASE.fact(line.fact)
            assert fact.scene == scene.number and fact.known_by(line.persona, scene.number)
        assert 2 <= len(scene.decision.options) <= 4
        for option in scene.decision.options:
            assert all(len(label) <= MAX_LABEL for label in option.label.every()) and option.sets


def test_flags_are_set_somewhere_and_reflected_later_or_in_the_epilogue() -> None:
    set_by = {flag for scene in STORY.scenes for option in scene.decision.options for flag in option.sets}
    assert set_by == set(STORY.flags)
    reflected = {flag for scene in STORY.scenes for r in scene.reflect for flag in r.when}
    assert {"hurt", "trust", "carry", "relic"} <= reflected  # who is hurt, whom you trust, what you carry


def test_capitalised_words_all_come_from_the_plot_summary() -> None:
    """No names, places or weapons the summary does not have: every capitalised word inside a sentence is in it."""
    summary = SUMMARY_PATH.read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z][\w-]*", summary))
    for text in texts():
        for match in re.finditer(r"(?<![.:?!] )(?<!^)\b[A-Z][\w'-]*", text):
            word = match.group()
            assert word in words or word in COMMON or word.removesuffix("'s") in words, (word, text)


def test_numbers_all_come_from_the_plot_summary() -> None:
    summary = SUMMARY_PATH.read_text(encoding="utf-8")
    for text in texts():
        for number in re.findall(r"\d+", text):
            assert number in summary, (number, text)


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(RAW)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["scenes"].pop(), "one scene per fact base scene"),
        (lambda d: d["scenes"][0].update(id="mall"), "scene 1 of the fact base is 'arrival'"),
        (lambda d: d["scenes"][0]["lines"].append({"persona": "john", "fact": "f-nope"}), "unknown fact"),
        (lambda d: d["scenes"][0]["lines"][0].update(fact="f-t800-shoots-t1000-into-vat"), "is of scene 7"),
        (lambda d: d["scenes"][0]["lines"][1].update(fact="f-t1000-arrives-under-freeway"), "does not know"),
        (
            lambda d: d["scenes"][1]["decision"]["options"].extend([d["scenes"][0]["decision"]["options"][0]] * 2),
            "2 to 4 options",
        ),
        (lambda d: d["scenes"][0]["decision"]["options"][0].update(sets={"mood": "x"}), "unknown flag"),
        (
            lambda d: d["scenes"][1]["reflect"].append({"when": {"goodbye": "beg"}, "text": "x"}),
            "not set by any earlier scene",
        ),
        (
            lambda d: d["flags"].update(spare={"label": "x", "default": "a", "values": {"a": "x", "b": "y"}}),
            "no option sets it",
        ),
        (lambda d: d["scenes"][0].update(narration="Contact @everyone"), "forbidden"),
    ],
)
def test_broken_documents_are_refused_with_the_reason(change: Any, problem: str) -> None:
    with pytest.raises(StoryError, match=re.escape(problem)):
        parse_story(broken(change), BASE, "story.yaml")


# ---------------------------------------------------------------- told to each role
# Every text is told to one role ("you"). Walk every scene as told to every role, under every combination of flags
# the earlier scenes can leave (each told to any role), and read what a player of that role reads.

WOUND = re.compile(r"\b(wound|hurt|blows?|injur|bleed|scar|damag)", re.IGNORECASE)
YOU = re.compile(r"\b(you|your|yours|yourself)\b", re.IGNORECASE)


def _pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?:s|'s)?(?![\w-])", re.IGNORECASE)


NAMES = {role: _pattern(role_names(BASE, role)) for role in ROLES}
HEADS = {role: {name.split()[-1] for name in role_names(BASE, role)} for role in ROLES}


def _others_named_like(role: str) -> re.Pattern[str] | None:
    """Other things of the fact base whose names end like one of the role's names ("the previous Terminator")."""
    aliases = [
        alias
        for key, entity in BASE.entities.items()
        if key != role
        for alias in (entity.name.lower(), *entity.aliases)
        if alias.split()[-1] in HEADS[role] and not NAMES[role].fullmatch(alias)
    ]
    return _pattern(tuple(aliases)) if aliases else None


OTHERS = {role: _others_named_like(role) for role in ROLES}


def third_person(text: str, role: str) -> str | None:
    """The name by which ``text`` speaks of ``role`` in the third person, if it does."""
    other = OTHERS[role]
    masked = other.sub("…", text) if other is not None else text
    found = NAMES[role].search(masked)
    return found.group() if found else None


def names(text: str, role: str, reader: str) -> bool:
    """Whether ``text``, told to ``reader``, speaks of ``role``: as "you" to the role itself, else by its name."""
    return bool(YOU.search(text)) if role == reader else NAMES[role].search(text) is not None


def reachable(story: Story) -> list[list[dict[str, str]]]:
    """For each scene, every combination of flags the scenes before it can leave, each scene told to any role."""
    found: list[list[dict[str, str]]] = []
    states = [story.initial_flags()]
    for scene in story.scenes:
        found.append(states)
        after = {
            tuple(sorted({**flags, **option.sets_for(role)}.items()))
            for flags in states
            for role in ROLES
            for option in scene.decision.options_for(role)
        }
        states = [dict(items) for items in sorted(after)]
    found.append(states)  # after the last scene: what the epilogue reads
    return found


def told(story: Story) -> Iterator[tuple[str, str, str, Mapping[str, str] | None]]:
    """(where, role, text, flags the text was chosen for) for everything a player of each role reads."""
    states = reachable(story)
    for scene, flag_sets in zip(story.scenes, states, strict=False):
        where = f"scene {scene.id}"
        for role in ROLES:
            for flags in flag_sets:
                yield f"{where} opening {flags}", role, scene_opening(scene, flags, role), None
            yield f"{where} prompt", role, scene.decision.prompt.told_to(role), None
            for option in scene.decision.options_for(role):
                yield f"{where} option {option.id} label", role, option.label.told_to(role), None
                yield f"{where} option {option.id} outcome", role, option.outcome.told_to(role), option.sets_for(role)
            for reflection in scene.reflect:
                yield f"{where} reflect {dict(reflection.when)}", role, reflection.text.told_to(role), reflection.when
    for role in ROLES:
        player = PlayerRow(1, "u:p", "Player", role, 1, True)
        for flags in states[-1]:
            text = epilogue(story, [player], flags, {}, range(1, len(story.scenes) + 1), {})
            for line in text.splitlines()[1:]:  # the first line is the cast: "- Player (John Connor): ..."
                yield f"epilogue {flags}", role, line, None
        for flag in story.flags.values():
            for value, sentence in flag.values.items():
                yield f"flag {flag.id}={value}", role, sentence.told_to(role), {flag.id: value}


def self_in_third_person(story: Story) -> list[str]:
    """Every text that speaks of the role it is told to by name."""
    return sorted(
        {
            f"{where}, told to {role}: {name!r} in {text!r}"
            for where, role, text, _ in told(story)
            if (name := third_person(text, role))
        }
    )


def test_no_role_reads_its_own_name_in_the_third_person() -> None:
    """Nothing told to John says "John", to the T-800 "the T-800" or "Terminator", to a fighter "resistance fighters":
    narration, reflections, prompts, option labels (so no option has a player act on their own role), outcomes and
    the epilogue, under every flag combination the earlier scenes can leave."""
    found = self_in_third_person(STORY)
    assert not found, f"{len(found)} texts speak of their reader in the third person:\n" + "\n".join(found)


def test_the_name_check_catches_a_persona_and_a_fighter_and_spares_other_terminators() -> None:
    assert third_person("You run with John to the motorcycle.", "john") == "John"
    assert third_person("The T-800 takes the blows meant for John.", "t800") == "The T-800"
    assert third_person("Sarah's weapons are laid out.", "sarah") == "Sarah's"
    assert third_person("The resistance fighters carry the wounds.", "fighter") == "resistance fighters"
    assert third_person("John speaks up for his Terminator.", "t800") == "Terminator"
    assert third_person("the right arm of the previous Terminator", "t800") is None  # another machine
    assert third_person("You stay at John's side.", "sarah") is None
    broken = copy.deepcopy(RAW)
    broken["scenes"][1]["decision"]["options"][0]["label"] = "Run to the motorcycle with John"
    assert any("told to john" in line for line in self_in_third_person(parse_story(broken, BASE)))


def test_option_labels_are_retold_in_the_third_person() -> None:
    """The recap retells a choice as "ann chose to <label>": a label never says "you"."""
    for scene in STORY.scenes:
        for option in scene.decision.options:
            for label in option.label.every():
                assert not YOU.search(label), (scene.id, option.id, label)


def test_what_is_said_agrees_with_the_flags_it_goes_with() -> None:
    """An outcome, reflection or epilogue sentence that goes with a flag naming a role (who is hurt, who carries the
    CPU, whom you trust) speaks of that role: "you" to the role itself, its name to the others; one that goes with
    "hurt: nobody" (a value that is no role) tells of no wound."""
    role_flags = {flag.id for flag in STORY.flags.values() if set(flag.values) & set(ROLES)}
    wrong = []
    for where, reader, text, flags in told(STORY):
        for flag, value in (flags or {}).items():
            if flag not in role_flags:
                continue
            if value in ROLES and not names(text, value, reader):
                wrong.append(f"{where}, told to {reader}: {text!r} does not speak of {value}")
            if flag == "hurt" and value not in ROLES and WOUND.search(text):
                wrong.append(f"{where}, told to {reader}: {text!r} tells of a wound, yet nobody is hurt")
            if flag == "hurt" and value in ROLES and not WOUND.search(text):
                wrong.append(f"{where}, told to {reader}: {text!r} does not tell of {value}'s wound")
    assert not wrong, f"{len(wrong)} texts disagree with their flags:\n" + "\n".join(wrong)


def test_every_role_has_a_choice_in_every_scene_and_personas_have_their_names() -> None:
    for role in PERSONA_IDS:
        assert len(role_names(BASE, role)) >= 2
    for scene in STORY.scenes:
        for role in ROLES:
            assert len(scene.decision.options_for(role)) >= 2, (scene.id, role)
        assert scene.decision.options[0].roles == set(ROLES)
