"""Tests for the fact base: the shipped facts.yaml and the validator in personas.factbase."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from personas.factbase import (
    FACTS_PATH,
    PERSONA_IDS,
    SUMMARY_PATH,
    Fact,
    FactBase,
    FactBaseError,
    load_fact_base,
    parse_fact_base,
    split_summary_sentences,
)

SCENE_IDS = ["arrival", "mall", "hospital", "road", "dyson-home", "cyberdyne", "steel-mill", "farewell"]

# Things about the film that are NOT in plot-summary.txt and so must never appear.
BANNED = [
    "reese",
    "kyle",
    "pescadero",
    "enrique",
    "salceda",
    "tarissa",
    "danny",
    "silberman",
    "uncle bob",
    "arnold",
    "schwarzenegger",
    "hamilton",
    "furlong",
    "patrick",
    "cameron",
    "hasta",
    "be back",
    "no problemo",
    "chill out",
    "dickwad",
    "want to live",
    "galleria",
    "1984",
    "2029",
    "skynet funding",
    "cyberdyne systems model",
    "todd",
    "janelle",
    "t-x",
]

SKYNET_HISTORY = [
    "f-skynet-is-ai",
    "f-skynet-nuclear-control",
    "f-skynet-initiates-judgment-day",
    "f-judgment-day-date",
    "f-skynet-creates-hunter-machines",
]


@pytest.fixture(scope="module")
def fb() -> FactBase:
    return load_fact_base()


@pytest.fixture(scope="module")
def summary() -> str:
    return SUMMARY_PATH.read_text(encoding="utf-8")


def _strings(fact: Fact) -> Iterator[str]:
    yield fact.text
    for said in fact.lines.values():
        yield from said
    for item in fact.trivia:
        yield item.question
        yield from item.answers


# --------------------------------------------------------------------------- the shipped file


def test_shipped_file_loads(fb: FactBase) -> None:
    assert len(fb.facts) >= 60
    assert [scene.id for scene in fb.scenes] == SCENE_IDS
    assert [scene.number for scene in fb.scenes] == list(range(1, 9))
    assert sum(len(fact.trivia) for fact in fb.facts) >= 60


def test_lookup_helpers(fb: FactBase) -> None:
    first = fb.facts[0]
    assert fb.fact(first.id) is first
    assert fb.scene(8).id == "farewell"
    with pytest.raises(KeyError):
        fb.fact("f-no-such-fact")
    with pytest.raises(KeyError):
        fb.scene(9)
    early = fb.facts_known_by("john", at_scene=1)
    assert early and all(fact.knowers["john"] <= 1 for fact in early)
    assert len(fb.facts_known_by("john")) > len(early)


def test_every_summary_sentence_is_covered(fb: FactBase, summary: str) -> None:
    sentences = split_summary_sentences(summary)
    assert len(sentences) == 28
    assert sentences[0].startswith("In 1995")
    assert sentences[-1].startswith("Sarah looks to the future")
    used = {source for fact in fb.facts for source in fact.sources}
    assert set(range(1, len(sentences) + 1)) <= used
    assert max(used) <= len(sentences)


def test_references_and_knowers(fb: FactBase) -> None:
    for persona in PERSONA_IDS:
        assert persona in fb.entities
        assert len(fb.facts_known_by(persona)) >= 20, persona
    for fact in fb.facts:
        assert set(fact.entities) <= set(fb.entities), fact.id
        assert fact.knowers, fact.id
        for persona, first in fact.knowers.items():
            assert persona in PERSONA_IDS
            assert 1 <= first <= len(fb.scenes)
            assert fact.lines[persona], (fact.id, persona)
        assert set(fact.lines) == set(fact.knowers), fact.id


def test_vantage_points(fb: FactBase) -> None:
    for fact_id in SKYNET_HISTORY:
        assert fb.fact(fact_id).known_by("t800", at_scene=1), fact_id
    for fact in fb.facts:
        if "dyson" in fact.entities:
            assert not fact.known_by("sarah", at_scene=3), fact.id
    musing = fb.fact("f-sarah-final-musing")
    assert not musing.known_by("t800")
    assert musing.known_by("sarah", at_scene=8)
    assert not fb.fact("f-skynet-sends-t1000").known_by("john", at_scene=1)
    assert fb.fact("f-skynet-sends-t1000").known_by("john", at_scene=2)


def test_nothing_outside_the_summary(fb: FactBase, summary: str) -> None:
    lowered = summary.lower()
    for word in BANNED:
        assert word not in lowered, f"banned word {word!r} is in the summary itself"
    texts = [text for fact in fb.facts for text in _strings(fact)]
    texts += [scene.summary for scene in fb.scenes] + [scene.title for scene in fb.scenes]
    texts += [alias for entity in fb.entities.values() for alias in (*entity.aliases, entity.name)]
    summary_numbers = set(re.findall(r"\b\d{4}\b", summary))
    for text in texts:
        for word in BANNED:
            assert word not in text.lower(), (word, text)
        for number in re.findall(r"\b\d{4}\b", text):
            assert number in summary_numbers, (number, text)


def test_lines_are_plain_and_in_voice(fb: FactBase) -> None:
    contraction = re.compile(r"[a-z]'(t|s|re|ll|ve|d|m)\b", re.IGNORECASE)
    for fact in fb.facts:
        for persona, said in fact.lines.items():
            for line in said:
                assert len(line) <= 240, (fact.id, line)
                assert not any(token in line for token in ("@", "http", "<", "`", "**", "#")), line
                if persona == "t800":
                    assert not contraction.search(line), (fact.id, line)
        for item in fact.trivia:
            assert item.question.endswith("?"), item.question
            assert item.answers and all(answer.strip() for answer in item.answers)


def test_aliases(fb: FactBase) -> None:
    owner: dict[str, str] = {}
    for entity in fb.entities.values():
        assert entity.aliases, entity.id
        for alias in entity.aliases:
            assert alias == alias.lower() == alias.strip(), alias
            assert alias not in {"it", "he", "she", "they", "man", "machine", "you", "your mom"}, alias
            assert alias not in owner, f"alias {alias!r} shared by {owner[alias]} and {entity.id}"
            owner[alias] = entity.id
    required = {
        "liquid metal": "t1000",
        "the cop": "t1000",
        "the other terminator": "t1000",
        "t-1000": "t1000",
        "miles": "dyson",
        "dyson": "dyson",
        "the engineer": "dyson",
        "the chip": "cpu",
        "the cpu": "cpu",
        "t-800": "t800",
        "the terminator": "t800",
        "john connor": "john",
        "sarah connor": "sarah",
    }
    for alias, entity_id in required.items():
        assert owner.get(alias) == entity_id, alias


def test_facts_in_story_order(fb: FactBase) -> None:
    scenes = [fact.scene for fact in fb.facts]
    assert scenes == sorted(scenes)
    assert len({fact.id for fact in fb.facts}) == len(fb.facts)
    assert {fact.scene for fact in fb.facts} == set(range(1, 9))


# --------------------------------------------------------------------------- the validator


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(FACTS_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _broken(raw: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(raw)


def test_parse_accepts_shipped_document(raw: dict[str, Any]) -> None:
    assert len(parse_fact_base(_broken(raw), "facts.yaml").facts) == len(raw["facts"])


def test_rejects_duplicate_fact_id(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["facts"][1]["id"] = data["facts"][0]["id"]
    with pytest.raises(FactBaseError, match=r"facts\.yaml: fact 'f-john-lives-in-los-angeles': duplicate fact id"):
        parse_fact_base(data, "facts.yaml")


def test_rejects_unknown_entity(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["facts"][0]["entities"].append("kyle")
    with pytest.raises(FactBaseError, match=r"unknown entity 'kyle'"):
        parse_fact_base(data)


def test_rejects_unknown_persona_knower(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["facts"][0]["knowers"]["dyson"] = 5
    with pytest.raises(FactBaseError, match=r"unknown persona knower 'dyson'"):
        parse_fact_base(data)


def test_rejects_knower_without_line(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    del data["facts"][0]["lines"]["sarah"]
    with pytest.raises(FactBaseError, match=r"fact 'f-john-lives-in-los-angeles': knower 'sarah' has no line"):
        parse_fact_base(data)


def test_rejects_line_for_non_knower(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    del data["facts"][0]["knowers"]["t800"]
    with pytest.raises(FactBaseError, match=r"line for non-knower 't800'"):
        parse_fact_base(data)


def test_rejects_scene_out_of_order(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["scenes"][0], data["scenes"][1] = data["scenes"][1], data["scenes"][0]
    with pytest.raises(FactBaseError, match=r"scene number 2 out of order, expected 1"):
        parse_fact_base(data)


def test_rejects_fact_out_of_scene_order(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["facts"][0], data["facts"][-1] = data["facts"][-1], data["facts"][0]
    with pytest.raises(FactBaseError, match=r"scene 1 comes after scene 8"):
        parse_fact_base(data)


def test_rejects_missing_trivia(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["facts"][0]["trivia"] = []
    with pytest.raises(FactBaseError, match=r"missing trivia"):
        parse_fact_base(data)
    del data["facts"][0]["trivia"]
    with pytest.raises(FactBaseError, match=r"missing key\(s\) trivia"):
        parse_fact_base(data)


def test_rejects_empty_answers(raw: dict[str, Any]) -> None:
    data = _broken(raw)
    data["facts"][0]["trivia"][0]["a"] = []
    with pytest.raises(FactBaseError, match=r"trivia question without answers"):
        parse_fact_base(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["facts"][0].__setitem__("id", "F_Bad"), r"bad fact id"),
        (lambda d: d["facts"][0].__setitem__("scene", 9), r"scene: expected an integer 1\.\.8"),
        (lambda d: d["facts"][0].__setitem__("sources", [0]), r"sources: expected an integer >= 1"),
        (lambda d: d["facts"][0].__setitem__("sources", [True]), r"sources: expected an integer"),
        (lambda d: d["facts"][0]["knowers"].__setitem__("john", 0), r"knower john: expected an integer 1\.\.8"),
        (lambda d: d["facts"][0]["lines"]["john"].append("see http://x"), r"forbidden 'http'"),
        (lambda d: d["facts"][0].__setitem__("text", "ping @everyone"), r"forbidden '@'"),
        (lambda d: d["entities"]["john"]["aliases"].append("John"), r"entity 'john': alias 'John' is not lowercase"),
        (lambda d: d["entities"]["john"].__setitem__("kind", "hero"), r"unknown kind 'hero'"),
        (lambda d: d.__setitem__("facts", {}), r"facts: expected a list"),
        (lambda d: d.pop("scenes"), r"document: missing key\(s\) scenes"),
    ],
)
def test_rejects_other_problems(raw: dict[str, Any], mutate: Any, message: str) -> None:
    data = _broken(raw)
    mutate(data)
    with pytest.raises(FactBaseError, match=message):
        parse_fact_base(data, "facts.yaml")


def test_rejects_non_mapping_document() -> None:
    with pytest.raises(FactBaseError, match=r"<data>: document: expected a mapping"):
        parse_fact_base(["not", "a", "mapping"])


def test_load_reports_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text("scenes: [\n", encoding="utf-8")
    with pytest.raises(FactBaseError, match=r"facts\.yaml: invalid YAML"):
        load_fact_base(path)


def test_causes_name_other_facts(fb: FactBase) -> None:
    linked = [fact for fact in fb.facts if fact.because]
    assert linked, "the shipped facts say why things happened"
    for fact in linked:
        assert fact.id not in fact.because
        assert all(fb.fact(reason).id == reason for reason in fact.because)


def test_rejects_cause_that_is_no_fact(raw: dict[str, Any]) -> None:
    broken = _broken(raw)
    broken["facts"][1]["because"] = ["f-no-such-fact"]
    with pytest.raises(FactBaseError, match=r"fact 'f-john-lives-with-foster-parents': because names 'f-no-such-fact'"):
        parse_fact_base(broken)


def test_rejects_fact_that_is_its_own_cause(raw: dict[str, Any]) -> None:
    broken = _broken(raw)
    broken["facts"][0]["because"] = [broken["facts"][0]["id"]]
    with pytest.raises(FactBaseError, match=r"because names 'f-john-lives-in-los-angeles'"):
        parse_fact_base(broken)
