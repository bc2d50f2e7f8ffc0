"""The fact guard: a model's reply is posted only when every name, date and number in it is backed by a cited fact
the persona knows, and it holds no mention, link, markup or other persona's voice."""

from __future__ import annotations

import pytest

from bot.llm.guard import MAX_REPLY_CHARS, FactGuard
from personas.factbase import FactBase
from personas.roster import PERSONAS

DATE = "f-judgment-day-date"
DYSON = "f-dyson-cyberdyne-engineer"
MALL = "f-terminators-converge-on-mall"


@pytest.fixture(scope="module")
def john(fact_base: FactBase) -> FactGuard:
    others = [persona for key, persona in PERSONAS.items() if key != "john"]
    return FactGuard(PERSONAS["john"], fact_base, others, card_texts=[PERSONAS["john"].description])


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_the_fact_base_own_lines_pass(persona: str, fact_base: FactBase) -> None:
    others = [other for key, other in PERSONAS.items() if key != persona]
    guard = FactGuard(PERSONAS[persona], fact_base, others, card_texts=[PERSONAS[persona].description])
    checked = 0
    for fact in fact_base.facts:
        for line in fact.lines.get(persona, ()):
            verdict = guard.check(line, [fact.id], {fact.id})
            assert verdict.ok, (fact.id, line, verdict.reasons)
            checked += 1
    assert checked > 50


def test_a_grounded_reply_in_other_words_passes(john: FactGuard) -> None:
    reply = "Listen. My mom drilled it into me: August 29, 1997 is Judgment Day. Nobody believes her."
    assert john.check(reply, [DATE], {DATE, MALL}).ok


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Judgment Day is August 29, 1997. Kyle Reese told my mom.", "name not in a cited fact: 'Kyle'"),
        ("Kyle was there on August 29, 1997.", "name not in a cited fact: 'Kyle'"),
        ("We hid out in Pescadero before Judgment Day.", "name not in a cited fact: 'Pescadero'"),
        ("Judgment Day is August 29, 1997, and the war goes on until 2029.", "number not in a cited fact: '2029'"),
        ("Judgment Day is August 29, 1997. Three billion people die.", "number not in a cited fact: 'Three'"),
        ("Judgment Day is in July 1997.", "name not in a cited fact: 'July'"),
        ("Judgment Day is August 29, 1997. Dyson builds the chip.", "name not in a cited fact: 'Dyson'"),
    ],
)
def test_invented_names_dates_and_numbers_are_refused(john: FactGuard, reply: str, reason: str) -> None:
    verdict = john.check(reply, [DATE], {DATE, DYSON})
    assert not verdict.ok and reason in verdict.reasons, verdict.reasons


def test_cited_facts_must_be_sent_and_known_at_this_scene(john: FactGuard) -> None:
    line = "Dyson's an engineer at Cyberdyne Systems, man."
    assert john.check(line, [DYSON], {DYSON}).ok
    assert john.check(line, [DYSON], {DATE}).reasons[0] == f"cites {DYSON!r}, which the prompt did not hold"
    assert john.check(line, ["f-no-such-fact", DYSON], {DYSON}).reasons == (
        "cites 'f-no-such-fact', which the prompt did not hold",
    )
    early = john.check(line, [DYSON], {DYSON}, at_scene=2)  # John learns of Dyson in scene 4
    assert f"cites {DYSON!r}, which John Connor does not know here" in early.reasons
    assert 'name not in a cited fact: "Dyson\'s"' in early.reasons  # and nothing else backs the name


@pytest.mark.parametrize(
    "reply",
    [
        "@everyone Judgment Day is August 29, 1997.",
        "<@123456789> Judgment Day is August 29, 1997.",
        "Judgment Day is August 29, 1997. See https://example.com",
        "Judgment Day is **August 29, 1997**.",
        "*shrugs* Judgment Day is August 29, 1997.",
        "> Judgment Day is August 29, 1997.",
        "Judgment Day is August 29, 1997.\x07",
    ],
)
def test_mentions_links_markup_and_control_characters_are_refused(john: FactGuard, reply: str) -> None:
    assert not john.check(reply, [DATE], {DATE}).ok


@pytest.mark.parametrize(
    "reply",
    [
        "Sarah: Judgment Day is August 29, 1997.",
        "Judgment Day is August 29, 1997.\nT-800: Affirmative.",
        "I'm Sarah Connor, and Judgment Day is August 29, 1997.",
    ],
)
def test_another_persona_voice_is_refused(john: FactGuard, reply: str) -> None:
    verdict = john.check(reply, [DATE], {DATE})
    assert any(reason.startswith("speaks as another persona") for reason in verdict.reasons), verdict.reasons


def test_length_and_emptiness(john: FactGuard) -> None:
    line = "Judgment Day is August 29, 1997. "
    long = line * (MAX_REPLY_CHARS // len(line) + 1)
    assert john.check(long, [DATE], {DATE}).reasons == (
        f"too long ({len(long.strip())} > {MAX_REPLY_CHARS} characters)",
    )
    assert john.check("   ", [], set()).reasons == ("empty reply",)


def test_the_persona_card_backs_names_without_a_fact(john: FactGuard) -> None:
    assert john.check("I'm John Connor. Ask me something.", [], set()).ok
    assert not john.check("I'm John Connor from Pescadero.", [], set()).ok
