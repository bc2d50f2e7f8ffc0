"""The scene graph in personas/story.yaml: complete, consistent with the fact base, and adding no film facts."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from personas.factbase import SUMMARY_PATH, load_fact_base
from personas.story import MAX_LABEL, STORY_PATH, StoryError, load_story, parse_story

BASE = load_fact_base()
STORY = load_story(BASE)
RAW: dict[str, Any] = yaml.safe_load(STORY_PATH.read_text(encoding="utf-8"))
# Capitalised words in mid-sentence that are not film facts.
COMMON = {"Judgment", "Terminators", "Epilogue"}


def texts() -> list[str]:
    found = [STORY.closing]
    for scene in STORY.scenes:
        found += [scene.title, scene.narration, scene.decision.prompt] + [r.text for r in scene.reflect]
        found += [text for option in scene.decision.options for text in (option.label, option.outcome)]
    found += [sentence for flag in STORY.flags.values() for sentence in (flag.label, *flag.values.values())]
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
        assert all(len(option.label) <= MAX_LABEL and option.sets for option in scene.decision.options)


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
